"""A deleted reader's links never open anyone else's account or history, on SQLite and on PostgreSQL.

The attack: a reader deletes their data; the next sign-up takes over their id (SQLite reuses the highest rowid; a
sequence can be reset); the deleted reader's old preferences, feed, data, digest, click and feedback links must
then show nothing of the new reader and change nothing of theirs.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from service.models import Delivery, Interaction, Subscriber
from service.subscribers.lifecycle import create_confirmed
from service.subscribers.privacy import delete_data
from tests.web.support import add_delivery, add_paper, csrf_from, path_of, pick_links

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


@pytest.fixture
def any_client(any_runtime):
    from service import create_app

    settings = any_runtime.settings
    app = create_app(
        {
            "INSTANCE_DIR": settings.INSTANCE_DIR,
            "DATABASE_URL": settings.DATABASE_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "BASE_URL": settings.BASE_URL,
            "TESTING": True,
        }
    )
    yield app.test_client(), any_runtime
    app.extensions["paperboy"].close()


def _old_links(rt, subscriber: Subscriber, delivery_id: int, paper_id: int) -> dict[str, str]:
    pick = pick_links(rt, delivery_id, paper_id)
    return {
        "preferences": path_of(rt.links.preferences(subscriber)),
        "unsubscribe": path_of(rt.links.unsubscribe(subscriber)),
        "confirm": path_of(rt.links.confirm(subscriber)),
        "feed": path_of(rt.links.feed(subscriber)),
        "data": path_of(rt.links.data_export(subscriber)),
        "export": path_of(rt.links.data_export(subscriber)) + "/export.json",
        "digest": path_of(rt.links.digest(delivery_id, subscriber.link_key)),
        "click": path_of(pick.url),
        "pdf": path_of(pick.resource("pdf")),
        "more": path_of(pick.feedback("more")),
    }


def _delete(rt, subscriber_id: int) -> None:
    with rt.db.session() as session:
        delete_data(session, session.get(Subscriber, subscriber_id))


def _take_over(rt, subscriber_id: int, delivery_id: int, paper_id: int, *, same_ids: bool) -> tuple[int, int]:
    """The next reader signs up and gets a digest; with ``same_ids`` they are given the deleted reader's ids, as a
    database that reuses ids would."""
    with rt.db.session() as session:
        ids = {"id": subscriber_id} if same_ids else {}
        newcomer = Subscriber(email="newcomer@example.org", status="confirmed", **ids)
        session.add(newcomer)
        session.flush()
        delivery = Delivery(
            subscriber_id=newcomer.id,
            digest_date=dt.date(2025, 6, 4),
            status="sent",
            picks=[{"paper_id": paper_id, "position": 1, "section": "for_you"}],
            sent_at=dt.datetime(2025, 6, 4, 7, 0),
            **({"id": delivery_id} if same_ids else {}),
        )
        session.add(delivery)
        session.flush()
        return newcomer.id, delivery.id


@pytest.mark.parametrize("same_ids", [False, True], ids=["natural-ids", "reused-ids"])
def test_a_deleted_readers_links_open_nothing_of_the_next_reader(any_client, same_ids):
    client, rt = any_client
    paper = add_paper(rt, "A paper on graphs", url="https://example.org/graphs", arxiv_id="2501.00001")
    with rt.db.session() as session:
        leaver = create_confirmed(session, "leaver@example.org", topics=["graphs"])
    delivery = add_delivery(rt, leaver.id, [paper])
    links = _old_links(rt, leaver, delivery, paper)
    for name in ("preferences", "feed", "digest"):
        assert client.get(links[name]).status_code == 200, name  # the links worked while the reader was here

    _delete(rt, leaver.id)
    newcomer_id, newcomer_delivery = _take_over(rt, leaver.id, delivery, paper, same_ids=same_ids)
    if not same_ids:
        assert (newcomer_id, newcomer_delivery) != (leaver.id, delivery)  # ids are never handed out again

    for name, link in links.items():
        answer = client.get(link, headers={"User-Agent": BROWSER})
        assert answer.status_code in (404, 410), f"{name}: {answer.status_code}"
        assert "newcomer" not in answer.text, name
    for name in ("unsubscribe", "more"):
        page = client.get(links["preferences"])  # any page of ours gives a CSRF token to post with
        token = csrf_from(client.get("/").text) if page.status_code != 200 else csrf_from(page.text)
        assert client.post(links[name], data={"csrf_token": token}).status_code in (404, 410), name
    one_click = client.post(links["unsubscribe"], data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code in (404, 410)
    with rt.db.session() as session:
        newcomer = session.get(Subscriber, newcomer_id)
        assert newcomer.status == "confirmed"  # nobody unsubscribed them
        assert session.scalar(select(func.count(Interaction.id))) == 0  # nothing written into their history


def test_links_already_sent_before_link_keys_keep_working_for_their_reader(any_client, monkeypatch):
    """A link from before link keys (no ``k``) still opens its own reader's page, and nobody else's."""
    import time

    from service import tokens

    client, rt = any_client
    with rt.db.session() as session:
        reader = create_confirmed(session, "early@example.org")
        reader.created_at -= dt.timedelta(hours=2)
    secret = rt.settings.SECRET_KEY
    sent_at = time.time() - 3600  # the email went out an hour ago, before link keys
    monkeypatch.setattr(tokens.time, "time", lambda: sent_at)
    old = tokens.make_token(secret, "preferences", {"s": reader.id, "v": 1})
    monkeypatch.undo()
    assert client.get(f"/preferences/{old}").status_code == 200
    _delete(rt, reader.id)
    with rt.db.session() as session:
        session.add(Subscriber(id=reader.id, email="next@example.org", status="confirmed"))
    answer = client.get(f"/preferences/{old}")
    assert answer.status_code == 410 and "next@example.org" not in answer.text
