"""Click tracking (/c/<token>) and feedback (/feedback/<token>)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text

from service.models import Interaction, Subscriber
from service.tokens import make_token
from tests.web.support import add_delivery, add_paper, add_subscriber, click_path, csrf_from, feedback_path

BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)


@pytest.fixture
def sent(web_rt):
    papers = [
        add_paper(web_rt, "Linked paper", url="https://papers.example.org/linked"),
        add_paper(web_rt, "Unlinked paper"),
        add_paper(web_rt, "Hostile link", url="javascript:alert(document.cookie)"),
    ]
    subscriber = add_subscriber(web_rt)
    delivery = add_delivery(web_rt, subscriber.id, papers)
    return subscriber, delivery, papers


def interactions(rt, kind="click"):
    with rt.db.session() as session:
        return session.scalars(select(Interaction).where(Interaction.kind == kind)).all()


def test_a_click_is_recorded_and_redirected_to_the_stored_url(client, web_rt, sent):
    subscriber, delivery, papers = sent
    answer = client.get(click_path(web_rt, delivery, papers[0], 0), headers={"User-Agent": BROWSER})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "https://papers.example.org/linked"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    [click] = interactions(web_rt)
    assert (click.subscriber_id, click.delivery_id, click.paper_id, click.position) == (
        subscriber.id,
        delivery,
        papers[0],
        0,
    )
    assert click.suspected_scanner is False and click.user_agent == BROWSER


def test_the_destination_cannot_be_chosen_by_the_link(client, web_rt, sent):
    _subscriber, delivery, papers = sent
    path = click_path(web_rt, delivery, papers[0], 0)
    answer = client.get(path + "?next=https://evil.example/", headers={"User-Agent": BROWSER})
    assert answer.headers["Location"] == "https://papers.example.org/linked"
    forged = make_token("someone-elses-secret", "click", {"d": delivery, "p": papers[0], "r": 0, "u": "https://evil"})
    assert client.get(f"/c/{forged}").status_code == 404


def test_a_paper_without_a_safe_url_leads_to_its_page_here(client, web_rt, sent):
    _subscriber, delivery, papers = sent
    for paper, slug in zip(papers[1:], ("unlinked-paper", "hostile-link"), strict=True):
        answer = client.get(click_path(web_rt, delivery, paper, 1), headers={"User-Agent": BROWSER})
        assert answer.status_code == 302 and answer.headers["Location"] == f"/papers/{paper}-{slug}"
        page = client.get(answer.headers["Location"])
        assert page.status_code == 200 and "no link to this paper" in page.text
        assert "javascript:" not in page.text
    assert len(interactions(web_rt)) == 2


def test_an_arxiv_search_is_not_a_destination(client, web_rt):
    searched = add_paper(
        web_rt, "Found by title", url="https://arxiv.org/search/?query=Found+by+title&searchtype=title"
    )
    subscriber = add_subscriber(web_rt)
    delivery = add_delivery(web_rt, subscriber.id, [searched])
    answer = client.get(click_path(web_rt, delivery, searched, 1), headers={"User-Agent": BROWSER})
    assert answer.headers["Location"] == f"/papers/{searched}-found-by-title"


@pytest.mark.parametrize("token", ["nonsense", "a.b.c"])
def test_a_bad_token_gets_a_friendly_404(client, token):
    answer = client.get(f"/c/{token}")
    assert answer.status_code == 404 and "Page not found" in answer.text
    assert answer.headers["Content-Type"].startswith("text/html")


def test_other_purposes_do_not_work_as_click_links(client, web_rt, sent):
    _subscriber, delivery, papers = sent
    secret = web_rt.settings.SECRET_KEY
    old_button = make_token(secret, "feedback", {"d": delivery, "p": papers[0], "k": "more"})
    assert client.get(f"/c/{old_button}").status_code == 404
    digest = make_token(secret, "digest", {"d": delivery, "p": papers[0]})
    assert client.get(f"/c/{digest}").status_code == 404
    assert interactions(web_rt) == []


def test_an_unknown_paper_opens_nothing(client, web_rt, sent):
    _subscriber, delivery, _papers = sent
    assert client.get(click_path(web_rt, delivery, 424242, 0)).status_code == 410


def test_tracking_opt_out_redirects_without_recording(client, web_rt, sent):
    subscriber, delivery, papers = sent
    with web_rt.db.session() as session:
        session.get(Subscriber, subscriber.id).tracking_enabled = False
    answer = client.get(click_path(web_rt, delivery, papers[0], 0), headers={"User-Agent": BROWSER})
    assert answer.status_code == 302 and interactions(web_rt) == []


def test_scanner_clicks_are_kept_but_flagged(client, web_rt, sent):
    _subscriber, delivery, papers = sent
    client.get(click_path(web_rt, delivery, papers[0], 0), headers={"User-Agent": "BingPreview/1.0b"})
    client.head(click_path(web_rt, delivery, papers[1], 1), headers={"User-Agent": BROWSER})
    assert [c.suspected_scanner for c in interactions(web_rt)] == [True, True]


def test_a_burst_over_every_link_is_flagged(client, web_rt, sent):
    _subscriber, delivery, papers = sent
    for position, paper in enumerate(papers):
        client.get(click_path(web_rt, delivery, paper, position), headers={"User-Agent": BROWSER})
    assert [c.suspected_scanner for c in interactions(web_rt)] == [True, True, True]


def test_a_failed_click_write_still_redirects(client, web_rt, sent, caplog):
    _subscriber, delivery, papers = sent
    with web_rt.db.engine.begin() as conn:  # the write fails for real: the table is gone
        conn.execute(text("DROP TABLE interactions"))
    answer = client.get(click_path(web_rt, delivery, papers[0], 0), headers={"User-Agent": BROWSER})
    assert answer.status_code == 302 and answer.headers["Location"] == "https://papers.example.org/linked"
    assert "could not record click" in caplog.text


def test_clicks_work_when_redis_is_down(runtime, sent):
    from service import create_app

    settings = runtime.settings
    app = create_app(
        {
            "INSTANCE_DIR": settings.INSTANCE_DIR,
            "DATABASE_URL": settings.DATABASE_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "BASE_URL": settings.BASE_URL,
            "REDIS_URL": "redis://127.0.0.1:1/0",  # nothing listens there
            "CELERY_BROKER_URL": "redis://127.0.0.1:1/1",
            "TESTING": True,
        }
    )
    _subscriber, delivery, papers = sent
    answer = app.test_client().get(click_path(runtime, delivery, papers[0], 0), headers={"User-Agent": BROWSER})
    assert answer.status_code == 302
    assert len(interactions(runtime)) == 1
    app.extensions["paperboy"].close()


def test_feedback_get_asks_and_post_records(client, web_rt, sent):
    subscriber, delivery, papers = sent
    path = feedback_path(web_rt, delivery, papers[0], "more")
    page = client.get(path)
    assert page.status_code == 200 and "Linked paper" in page.text
    assert interactions(web_rt, "more") == []  # a scanner's GET records nothing
    done = client.post(path, data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 200 and "Thanks" in done.text
    client.post(path, data={"csrf_token": csrf_from(page.text)})  # twice: still one
    [more] = interactions(web_rt, "more")
    assert (more.subscriber_id, more.paper_id, more.delivery_id) == (subscriber.id, papers[0], delivery)


def test_feedback_can_be_undone_and_leads_back(client, web_rt, sent):
    _subscriber, delivery, papers = sent
    path = feedback_path(web_rt, delivery, papers[0], "more")
    done = client.post(path, data={"csrf_token": csrf_from(client.get(path).text)})
    assert len(interactions(web_rt, "more")) == 1
    back = re.search(r'href="https://paperboy\.test(/digest/[^"]+)">Back to the digest', done.text).group(1)
    assert client.get(back).status_code == 200
    own = re.search(r'href="(/preferences/[^"]+)">Your preferences', done.text).group(1)
    assert client.get(own).status_code == 200
    undo = re.search(r'<form method="post" action="([^"]+)">', done.text).group(1)
    assert undo == f"{path}/undo"
    undone = client.post(undo, data={"csrf_token": csrf_from(done.text)})
    assert undone.status_code == 200 and "Taken back" in undone.text
    assert interactions(web_rt, "more") == []
    assert client.post(undo, data={}).status_code == 400  # an undo is a form like the answer: CSRF-checked


def test_feedback_less_needs_csrf(client, web_rt, sent):
    _subscriber, delivery, papers = sent
    path = feedback_path(web_rt, delivery, papers[1], "less")
    assert client.post(path, data={}).status_code == 400
    assert interactions(web_rt, "less") == []
    page = client.get(path)
    client.post(path, data={"csrf_token": csrf_from(page.text)})
    assert len(interactions(web_rt, "less")) == 1


def test_feedback_with_a_click_token_is_404(client, web_rt, sent):
    _subscriber, delivery, papers = sent
    click_token = click_path(web_rt, delivery, papers[0], 0).rsplit("/", 1)[1]
    assert client.get(f"/feedback/{click_token}").status_code == 404  # a pick's buttons name their kind
    assert client.get(f"/feedback/{click_token}/delete").status_code == 404
