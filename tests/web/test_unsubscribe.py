"""Unsubscribe: GET changes nothing, the form POST and the RFC 8058 one-click POST act at once; resubscribe."""

from __future__ import annotations

import re

from service.models import Subscriber
from tests.web.support import add_subscriber, csrf_from, path_of, reader


def status_of(rt, subscriber_id):
    with rt.db.session() as session:
        return session.get(Subscriber, subscriber_id).status


def test_get_shows_a_page_and_changes_nothing(client, web_rt):
    subscriber = add_subscriber(web_rt)
    page = client.get(path_of(web_rt.links.unsubscribe(reader(subscriber))))
    assert page.status_code == 200 and "Unsubscribe?" in page.text
    assert status_of(web_rt, subscriber.id) == "confirmed"


def test_the_page_form_unsubscribes_then_resubscribes(client, web_rt):
    subscriber = add_subscriber(web_rt)
    path = path_of(web_rt.links.unsubscribe(reader(subscriber)))
    page = client.get(path)
    done = client.post(path, data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 200 and "unsubscribed" in done.text
    assert status_of(web_rt, subscriber.id) == "unsubscribed"
    again = client.post(f"{path}/resubscribe", data={"csrf_token": csrf_from(done.text)})
    assert again.status_code == 200 and "Welcome back" in again.text
    assert status_of(web_rt, subscriber.id) == "confirmed"


def test_the_page_form_needs_its_csrf_token(client, web_rt):
    subscriber = add_subscriber(web_rt)
    path = path_of(web_rt.links.unsubscribe(reader(subscriber)))
    refused = client.post(path, data={"unsubscribe": "yes"})
    assert refused.status_code == 400
    assert status_of(web_rt, subscriber.id) == "confirmed"


def test_rfc8058_one_click_post_without_cookie_or_token(app, web_rt):
    subscriber = add_subscriber(web_rt)
    fresh = app.test_client(use_cookies=False)  # a mailbox provider: no session, no CSRF token
    answer = fresh.post(
        path_of(web_rt.links.unsubscribe(reader(subscriber))),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 200  # never a redirect
    assert "Location" not in answer.headers
    assert status_of(web_rt, subscriber.id) == "unsubscribed"
    # posted twice (providers retry): still fine
    again = fresh.post(
        path_of(web_rt.links.unsubscribe(reader(subscriber))),
        data={"List-Unsubscribe": "One-Click"},
        content_type="multipart/form-data",
    )
    assert again.status_code == 200


def test_one_click_is_only_exempt_for_the_exact_body(app, web_rt):
    subscriber = add_subscriber(web_rt)
    fresh = app.test_client(use_cookies=False)
    for body in ("List-Unsubscribe=Yes", "", "unsubscribe=1"):
        answer = fresh.post(
            path_of(web_rt.links.unsubscribe(reader(subscriber))),
            data=body,
            content_type="application/x-www-form-urlencoded",
        )
        assert answer.status_code == 400
    assert status_of(web_rt, subscriber.id) == "confirmed"


def test_one_click_with_a_bad_or_wrong_purpose_token_is_404(app, web_rt):
    subscriber = add_subscriber(web_rt)
    fresh = app.test_client(use_cookies=False)
    confirm_token = path_of(web_rt.links.confirm(reader(subscriber))).rsplit("/", 1)[1]
    for token in ("garbage", confirm_token):
        answer = fresh.post(
            f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
        assert answer.status_code == 404
    assert status_of(web_rt, subscriber.id) == "confirmed"


def test_a_revoked_unsubscribe_link_is_gone(client, web_rt):
    subscriber = add_subscriber(web_rt, token_version=2)
    page = client.get(path_of(web_rt.links.unsubscribe(reader(subscriber))))
    assert page.status_code == 410


def test_the_unsubscribe_pages_lead_to_the_readers_preferences(client, web_rt):
    subscriber = add_subscriber(web_rt)
    path = path_of(web_rt.links.unsubscribe(reader(subscriber)))
    page = client.get(path)
    for answer in (page, client.post(path, data={"csrf_token": csrf_from(page.text)})):
        links = re.findall(r'href="(/preferences/[^"]+)"', answer.text)
        assert links, "no link to the reader's preferences"
        assert all(client.get(link).status_code == 200 for link in links)
