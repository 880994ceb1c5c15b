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


def _claim(rt, delivery, paper, *, key="own"):
    from service.models import Delivery, Subscriber
    from service.tokens import DeliveryClaim

    with rt.db.session() as session:
        row = session.get(Delivery, delivery)
        own = session.get(Subscriber, row.subscriber_id).link_key if row else None
    issued = int(dt.datetime.now(dt.UTC).timestamp())
    return DeliveryClaim(delivery, own if key == "own" else key, issued, paper, 1)


def test_resolve_click_reads_the_destination_from_the_paper(sent):
    rt, subscriber_id, delivery, papers = sent
    with rt.db.session() as session:
        target = resolve_click(session, _claim(rt, delivery, papers[2]))
        assert target.url == "https://example.org/p/2" and target.tracking_enabled
        assert target.subscriber_id == subscriber_id
        assert resolve_click(session, _claim(rt, delivery, 999_999)) is None
        assert resolve_click(session, _claim(rt, 999_999, papers[2], key="abcdefghijkl")) is None


def test_a_link_carrying_another_readers_key_resolves_to_nothing(sent):
    rt, _subscriber_id, delivery, papers = sent
    with rt.db.session() as session:
        assert resolve_click(session, _claim(rt, delivery, papers[0], key="notthiskey00")) is None


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (Linux; Android 11; ROBOT 2) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0 Mobile"
        " Safari/537.36",
        "Mozilla/5.0 (Linux; Android 9; Bot Note 4 Build/PPR1) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/118.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; U; Android 10; CUBOT_X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0 Mobile"
        " Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
        " Version/17.5 Mobile/15E148 Safari/604.1",
    ],
)
def test_phones_whose_model_names_say_bot_are_people(agent):
    assert not looks_like_scanner_agent(agent)


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/120.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Mimecast Safe Links",
        "Go-http-client/1.1",
    ],
)
def test_crawlers_even_in_phone_clothing_are_scanners(agent):
    assert looks_like_scanner_agent(agent)


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
