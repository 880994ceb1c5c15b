"""The delivery state machine (``service.digest.states``), transition by transition, on SQLite and PostgreSQL:
each moves only from its own status and only under the claim that holds the row (the fencing token)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from service.digest import states
from service.digest.recovery import TAKEN_BACK, reap
from service.digest.schedule import is_due
from service.mail.suppression import suppress
from service.models import Delivery, Subscriber, Suppression
from tests.factories import DAY, add_delivery, add_papers, add_subscriber

LATER = dt.timedelta(seconds=61)  # past the 60 s lease


def _rows(rt) -> dict[int, Delivery]:
    with rt.db.session() as session:
        return {d.id: d for d in session.scalars(select(Delivery))}


def _planned(rt, n: int = 3) -> list[int]:
    with rt.db.session() as session:
        papers = add_papers(session, 2)
        return [
            add_delivery(session, add_subscriber(session, f"r{i}@example.com"), papers, status="planned")
            for i in range(n)
        ]


def _claimed(rt, ids: list[int]) -> list[states.Claim]:
    with rt.db.session() as session:
        taken, held = states.claim(session, ids)
    assert held == [] and [c.delivery_id for c in taken] == ids
    return taken


def _move(rt, transition: str, claim: states.Claim) -> set[int]:
    with rt.db.session() as session:
        if transition == "store_picks":
            return states.store_picks(session, [(claim, [{"paper_id": 1, "position": 1}])], None)
        if transition == "skip":
            return states.skip(session, [(claim, "nothing new")])
        if transition == "mark_submitting":
            return states.mark_submitting(session, [(claim, "<m@x>")])
        if transition == "record_sent":
            return states.record_sent(session, [(claim, "sg-1")])
        if transition == "release":
            return states.release(session, [(claim, "429")])
        if transition == "fail":
            return states.fail(session, [(claim, "400")])
        raise AssertionError(transition)


# (transition, the status it moves from, the status it leaves)
TRANSITIONS = [
    ("store_picks", "sending", "sending"),
    ("skip", "sending", "skipped"),
    ("mark_submitting", "sending", "submitting"),
    ("record_sent", "submitting", "sent"),
    ("release", "submitting", "planned"),
    ("fail", "submitting", "failed"),
]


@pytest.mark.parametrize(("transition", "source", "target"), TRANSITIONS)
def test_each_transition_moves_only_its_own_status_under_its_own_claim(any_runtime, transition, source, target):
    rt = any_runtime
    right, stale, elsewhere = _claimed(rt, _planned(rt))
    with rt.db.session() as session:  # bring each row to the transition's source status, or deliberately not
        if source == "submitting":
            states.mark_submitting(session, [(right, "<a@x>"), (stale, "<b@x>")])
    stale_claim = states.Claim(stale.delivery_id, stale.attempt - 1)  # a claim another sender has since taken over
    wrong_status = elsewhere if source == "submitting" else None
    assert _move(rt, transition, right) == {right.delivery_id}
    assert _move(rt, transition, stale_claim) == set()
    if wrong_status is not None:  # still ``sending``: not the source status of this transition
        assert _move(rt, transition, wrong_status) == set()
    rows = _rows(rt)
    assert rows[right.delivery_id].status == target
    assert rows[stale.delivery_id].status == source  # untouched by the fenced-off claim


def test_claim_takes_planned_rows_and_lapsed_sending_ones_never_live_or_submitted_ones(any_runtime):
    rt = any_runtime
    live, lapsed, submitted, planned = _planned(rt, 4)
    now = dt.datetime.now(dt.UTC)
    claims = _claimed(rt, [live, lapsed, submitted])
    with rt.db.session() as session:
        states.mark_submitting(session, [(claims[2], "<m@x>")])
        states.renew(session, [claims[0]], now=now + LATER)  # its worker is alive and renewed the lease
    with rt.db.session() as session:
        taken, held = states.claim(session, [live, lapsed, submitted, planned], now=now + LATER)
    assert sorted(c.delivery_id for c in taken) == [lapsed, planned]
    assert held == [live]  # in progress elsewhere; the submitted one is neither ours nor waited for
    rows = _rows(rt)
    assert rows[lapsed].attempts == 2 and rows[submitted].status == "submitting"


def test_renew_keeps_only_claims_still_held(any_runtime):
    rt = any_runtime
    a, b = _claimed(rt, _planned(rt, 2))
    with rt.db.session() as session:
        renewed = states.renew(session, [a, states.Claim(b.delivery_id, b.attempt + 1)], now=dt.datetime(2030, 1, 1))
    assert renewed == {a.delivery_id}
    assert _rows(rt)[a.delivery_id].claimed_at == dt.datetime(2030, 1, 1)


@pytest.mark.parametrize(
    ("status", "suppressed", "reason"),
    [
        ("confirmed", False, None),
        ("unconfirmed", False, "subscription unconfirmed"),
        ("unsubscribed", False, "subscription unsubscribed"),
        ("confirmed", True, "address suppressed"),
    ],
)
def test_one_eligibility_rule_for_planning_and_for_the_last_check(any_runtime, status, suppressed, reason):
    rt = any_runtime
    [delivery_id] = _planned(rt, 1)
    with rt.db.session() as session:
        reader = session.scalar(select(Subscriber))
        reader.status = status
        if suppressed:
            suppress(session, reader.email, "bounce")
    with rt.db.session() as session:
        reader = session.scalar(select(Subscriber))
        addresses = set(session.scalars(select(Suppression.email)))
        assert states.why_not_mailable(reader.status, reader.email, addresses) == reason
        verdict = is_due(reader, DAY, suppressed=addresses)
        assert bool(verdict) is (reason is None) and (reason is None or verdict.reason == reason)
    [claim] = _claimed(rt, [delivery_id])
    with rt.db.session() as session:
        ready, skipped = states.screen(session, [claim])
    assert (ready == [claim]) is (reason is None)
    assert skipped == ({} if reason is None else {delivery_id: f"{reason} before sending"})


def test_a_deleted_reader_is_never_mailed():
    assert states.why_not_mailable(None, None, set()) == "subscriber deleted"


def test_stale_submissions_are_settled_by_what_the_backend_knows(any_runtime):
    rt = any_runtime
    accepted, refused, unknown, fresh = _claimed(rt, _planned(rt, 4))
    with rt.db.session() as session:
        states.mark_submitting(session, [(c, f"<{c.delivery_id}@x>") for c in (accepted, refused, unknown, fresh)])
        session.execute(
            update(Delivery)
            .where(Delivery.id != fresh.delivery_id)
            .values(claimed_at=dt.datetime(2025, 1, 1))  # their sender stopped long ago
        )
    verdicts = {accepted.delivery_id: True, refused.delivery_id: False, unknown.delivery_id: None}
    with rt.db.session() as session:
        counts = states.resolve_stale(session, lambda i: verdicts.get(i))
    assert counts == {"sent": 1, "planned": 1, "failed": 1}
    rows = _rows(rt)
    assert [rows[c.delivery_id].status for c in (accepted, refused, unknown, fresh)] == [
        "sent", "planned", "failed", "submitting",
    ]  # fmt: skip
    assert rows[unknown.delivery_id].error.startswith("outcome unknown")


def test_a_provider_event_proves_an_unknown_outcome_but_not_a_refusal(any_runtime):
    rt = any_runtime
    unknown, refused = _claimed(rt, _planned(rt, 2))
    with rt.db.session() as session:
        states.mark_submitting(session, [(unknown, "<u@x>"), (refused, "<r@x>")])
        states.fail(session, [(unknown, states.OUTCOME_UNKNOWN), (refused, "SendGrid refused the message (400)")])
    with rt.db.session() as session:
        assert states.confirm_accepted(session, unknown.delivery_id, "sg-9") is True
        assert states.confirm_accepted(session, refused.delivery_id, "sg-9") is False
    rows = _rows(rt)
    assert (rows[unknown.delivery_id].status, rows[unknown.delivery_id].provider_message_id) == ("sent", "sg-9")
    assert rows[refused.delivery_id].status == "failed"


def test_the_reaper_takes_back_a_dead_senders_claims_for_the_next_sender(any_runtime):
    rt = any_runtime
    dead, alive = _claimed(rt, _planned(rt, 2))
    with rt.db.session() as session:
        states.renew(session, [alive], now=dt.datetime.now(dt.UTC) + LATER)  # still renewed by its worker
    report = reap(rt, now=dt.datetime.now(dt.UTC) + LATER)
    assert report["taken_back"] == [dead.delivery_id] and report["dispatched"] == []  # no broker: left planned
    rows = _rows(rt)
    assert (rows[dead.delivery_id].status, rows[dead.delivery_id].error) == ("planned", TAKEN_BACK)
    assert rows[alive.delivery_id].status == "sending"
    with rt.db.session() as session:  # the next sender claims it under a new attempt; the dead one is fenced off
        [again], _ = states.claim(session, [dead.delivery_id])
        assert again.attempt == dead.attempt + 1
        assert states.skip(session, [(dead, "late worker")]) == set()
