"""Download my data (JSON) and delete my data (POST, CSRF)."""

from __future__ import annotations

import json

from service.models import Subscriber
from service.tokens import make_token
from tests.web.support import add_delivery, add_paper, add_subscriber, csrf_from, path_of, reader


def test_download_my_data(client, web_rt):
    subscriber = add_subscriber(web_rt, "me@example.com", topics=["robots"])
    add_delivery(web_rt, subscriber.id, [add_paper(web_rt, "A paper", url="https://example.org/a")])
    page = client.get(path_of(web_rt.links.data_export(reader(subscriber))))
    assert page.status_code == 200 and "Download my data" in page.text
    download = client.get(page.text.split('class="button" href="')[1].split('"')[0])
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert "attachment" in download.headers["Content-Disposition"]
    document = json.loads(download.data)
    assert document["subscriber"]["email"] == "me@example.com"
    assert document["preferences"]["topics"] == ["robots"]
    assert len(document["deliveries"]) == 1


def test_delete_my_data_asks_to_confirm_needs_csrf_then_removes_everything(client, web_rt):
    subscriber = add_subscriber(web_rt, "me@example.com")
    path = path_of(web_rt.links.data_export(reader(subscriber)))
    data_page = client.get(path)
    assert f'href="{path}/delete"' in data_page.text and "<form" not in data_page.text  # a link to the next step
    page = client.get(f"{path}/delete")
    assert page.status_code == 200 and "cannot be undone" in page.text
    with web_rt.db.session() as session:
        assert session.get(Subscriber, subscriber.id) is not None  # looking at the step deletes nothing
    assert client.post(f"{path}/delete", data={"confirm": "yes"}).status_code == 400  # no CSRF token
    unticked = client.post(f"{path}/delete", data={"csrf_token": csrf_from(page.text)})
    assert unticked.status_code == 400 and "Nothing was deleted" in unticked.text
    with web_rt.db.session() as session:
        assert session.get(Subscriber, subscriber.id) is not None
    done = client.post(f"{path}/delete", data={"csrf_token": csrf_from(page.text), "confirm": "yes"})
    assert done.status_code == 200 and "deleted" in done.text
    with web_rt.db.session() as session:
        assert session.get(Subscriber, subscriber.id) is None
    # every old link now leads to a friendly "no longer works" page
    for url in (web_rt.links.preferences(reader(subscriber)), web_rt.links.unsubscribe(reader(subscriber))):
        gone = client.get(path_of(url))
        assert gone.status_code == 410 and "no longer" in gone.text


def test_a_data_link_expires_within_a_day(client, web_rt, monkeypatch):
    from service import tokens

    subscriber = add_subscriber(web_rt)
    token = make_token(web_rt.settings.SECRET_KEY, "data", {"s": subscriber.id, "v": 1})
    monkeypatch.setitem(tokens.MAX_AGE, "data", -1)
    answer = client.get(f"/my-data/{token}/export.json")
    assert answer.status_code == 410 and "preferences page" in answer.text


def test_a_preferences_token_cannot_export_data(client, web_rt):
    subscriber = add_subscriber(web_rt)
    token = path_of(web_rt.links.preferences(reader(subscriber))).rsplit("/", 1)[1]
    assert client.get(f"/my-data/{token}/export.json").status_code == 404
