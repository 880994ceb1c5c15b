"""Clicks and feedback are stored; scanner-looking clicks are kept but flagged and never learnable."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from service.models import Interaction
from service.subscribers.tracking import (
    learnable,
    looks_like_scanner_agent,
    record_click,
    record_feedback,
    resolve_click,
    safe_destination,
)
from tests.web.support import add_delivery, add_paper, add_subscriber

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
T0 = dt.datetime(2025, 6, 3, 8, 0, 0)


@pytest.fixture
def sent(any_runtime):
    papers = [add_paper(any_runtime, f"Paper {i}", url=f"https://example.org/p/{i}") for i in range(4)]
    subscriber = add_subscriber(any_runtime)
    delivery = add_delivery(any_runtime, subscriber.id, papers)
    return any_runtime, subscriber.id, delivery, papers


def _click(rt, subscriber_id, delivery, paper, when, agent=BROWSER):
    with rt.db.session() as session:
        record_click(
            session,
            subscriber_id=subscriber_id,
            delivery_id=delivery,
            paper_id=paper,
            position=0,
            user_agent=agent,
            now=when,
        )


def _clicks(rt):
    with rt.db.session() as session:
        return session.scalars(select(Interaction).where(Interaction.kind == "click").order_by(Interaction.id)).all()


@pytest.mark.parametrize(
    "agent",
    [
        "",
        None,
        "Mozilla/5.0 (compatible; BingPreview/1.0b)",
        "python-requests/2.31",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36",
        "Proofpoint URL Defense",
    ],
)
def test_known_scanner_agents_are_recognised(agent):
    assert looks_like_scanner_agent(agent)


def test_a_browser_is_not_a_scanner():
    assert not looks_like_scanner_agent(BROWSER)


def test_a_readers_clicks_are_learnable(sent):
    rt, subscriber_id, delivery, papers = sent
    _click(rt, subscriber_id, delivery, papers[0], T0)
    _click(rt, subscriber_id, delivery, papers[1], T0 + dt.timedelta(minutes=3))
    clicks = _clicks(rt)
    assert [c.suspected_scanner for c in clicks] == [False, False]
    assert clicks[0].subscriber_id == subscriber_id and clicks[0].delivery_id == delivery
    with rt.db.session() as session:
        assert len(session.scalars(select(Interaction).where(learnable())).all()) == 2


def test_a_scanner_agent_click_is_kept_but_flagged(sent):
    rt, subscriber_id, delivery, papers = sent
    _click(rt, subscriber_id, delivery, papers[0], T0, agent="Mozilla/5.0 (compatible; BingPreview/1.0b)")
    clicks = _clicks(rt)
    assert len(clicks) == 1 and clicks[0].suspected_scanner
    with rt.db.session() as session:
        assert session.scalars(select(Interaction).where(learnable())).all() == []


def test_many_links_of_one_email_within_seconds_flags_the_whole_burst(sent):
    rt, subscriber_id, delivery, papers = sent
    for i, paper in enumerate(papers):
        _click(rt, subscriber_id, delivery, paper, T0 + dt.timedelta(milliseconds=300 * i))
    assert [c.suspected_scanner for c in _clicks(rt)] == [True, True, True, True]


def test_the_same_link_twice_is_not_a_burst(sent):
    rt, subscriber_id, delivery, papers = sent
    _click(rt, subscriber_id, delivery, papers[0], T0)
    _click(rt, subscriber_id, delivery, papers[0], T0 + dt.timedelta(seconds=1))
    assert [c.suspected_scanner for c in _clicks(rt)] == [False, False]


def test_feedback_is_recorded_once_per_kind(sent):
    rt, subscriber_id, delivery, papers = sent
    with rt.db.session() as session:
        assert record_feedback(session, delivery_id=delivery, paper_id=papers[0], kind="more")
        assert not record_feedback(session, delivery_id=delivery, paper_id=papers[0], kind="more")
        assert record_feedback(session, delivery_id=delivery, paper_id=papers[0], kind="less")
        with pytest.raises(ValueError, match="more, less"):
            record_feedback(session, delivery_id=delivery, paper_id=papers[0], kind="meh")
    with rt.db.session() as session:
        kinds = session.scalars(select(Interaction.kind).where(Interaction.subscriber_id == subscriber_id)).all()
    assert sorted(kinds) == ["less", "more"]


def test_resolve_click_reads_the_destination_from_the_paper(sent):
    rt, _subscriber_id, delivery, papers = sent
    with rt.db.session() as session:
        target = resolve_click(session, delivery, papers[2])
        assert target.url == "https://example.org/p/2" and target.tracking_enabled
        assert resolve_click(session, delivery, 999_999) is None
        gone = resolve_click(session, 999_999, papers[2])
        assert gone.subscriber_id is None and gone.url == "https://example.org/p/2"


@pytest.mark.parametrize(
    ("url", "arxiv_id", "expected"),
    [
        ("https://example.org/x", None, "https://example.org/x"),
        ("javascript:alert(1)", None, None),
        ("//evil.example/x", None, None),
        (None, "2406.01234", "https://arxiv.org/abs/2406.01234"),
        ("https://ok.example/a b", None, None),
    ],
)
def test_only_http_destinations_are_followed(url, arxiv_id, expected):
    from service.models import Paper

    assert safe_destination(Paper(title="t", title_key="t", url=url, arxiv_id=arxiv_id)) == expected
