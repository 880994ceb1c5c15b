"""Planning and sending a date's digests through the outbox: once per subscriber, skips recorded, crash-safe."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

from sqlalchemy import func, select

from service.digest import send_due_digests, states
from service.digest.batch import send_batch
from service.digest.plan import plan_deliveries
from service.mail.backends.outbox import OutboxBackend
from service.mail.suppression import suppress
from service.models import Delivery, Interaction, Subscriber
from service.subscribers.lifecycle import unsubscribe
from tests.digest.conftest import DAY, add_papers, add_subscriber, send_counts


def _setup(rt, n_subscribers: int = 3, n_papers: int = 6) -> list[int]:
    with rt.db.session() as session:
        add_papers(session, n_papers)
        return [add_subscriber(session, f"reader{i}@example.com") for i in range(n_subscribers)]


def _emls(rt) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(rt.settings.OUTBOX_DIR.glob("delivery-*.eml"))
    ]


def test_send_writes_one_digest_per_subscriber_and_a_rerun_sends_nothing(runtime):
    _setup(runtime)
    report = send_due_digests(runtime, DAY)
    assert send_counts(report) == {"planned": 3, "sent": 3, "skipped": 0, "failed": 0}
    messages = _emls(runtime)
    assert sorted(m["To"] for m in messages) == [f"reader{i}@example.com" for i in range(3)]
    assert all(m.get_content_type() == "multipart/alternative" for m in messages)
    again = send_due_digests(runtime, DAY)
    assert send_counts(again) == {"planned": 0, "sent": 0, "skipped": 0, "failed": 0}
    assert len(_emls(runtime)) == 3
    with runtime.db.session() as session:
        deliveries = session.scalars(select(Delivery)).all()
        assert {d.status for d in deliveries} == {"sent"}
        assert all(d.picks and d.message_id and d.sent_at for d in deliveries)
        assert all([p["position"] for p in d.picks] == list(range(1, len(d.picks) + 1)) for d in deliveries)
        # what each email showed is its picks: no row per paper shown
        assert session.scalar(select(func.count()).select_from(Interaction)) == 0


def test_papers_already_sent_are_not_sent_again_the_next_day(runtime):
    _setup(runtime, n_subscribers=1, n_papers=3)
    assert send_due_digests(runtime, DAY)["sent"] == 1
    next_day = DAY + dt.timedelta(days=1)
    report = send_due_digests(runtime, next_day)  # same papers still in the window, all already sent
    assert send_counts(report) == {"planned": 0, "sent": 0, "skipped": 1, "failed": 0}
    with runtime.db.session() as session:
        delivery = session.scalar(select(Delivery).where(Delivery.digest_date == next_day))
        assert delivery.status == "skipped" and "nothing new" in delivery.skip_reason
        add_papers(session, 2, next_day, prefix="Fresh")
    assert send_due_digests(runtime, next_day + dt.timedelta(days=1))["sent"] == 1
    titles = _emls(runtime)[-1].get_body(("plain",)).get_content()
    assert "Fresh 0" in titles and "Paper 0" not in titles


def test_day_with_nothing_new_is_skipped_with_the_reason(runtime):
    with runtime.db.session() as session:
        add_papers(session, 3, DAY - dt.timedelta(days=10))
        add_subscriber(session, "reader@example.com")
    assert send_counts(send_due_digests(runtime, DAY)) == {"planned": 0, "sent": 0, "skipped": 1, "failed": 0}
    with runtime.db.session() as session:
        assert session.scalar(select(Delivery.skip_reason)) == "nothing new since the last digest"


def test_not_due_subscribers_get_no_delivery(runtime):
    with runtime.db.session() as session:
        add_papers(session, 3)
        add_subscriber(session, "weekly@example.com", frequency="weekly", weekly_day=4)
        add_subscriber(session, "paused@example.com", paused_until=DAY + dt.timedelta(days=3))
        add_subscriber(session, "pending@example.com", status="unconfirmed")
        add_subscriber(session, "due@example.com")
    assert send_due_digests(runtime, DAY)["sent"] == 1
    assert [m["To"] for m in _emls(runtime)] == ["due@example.com"]


def test_an_unsubscribe_or_suppression_landing_after_planning_stops_the_send(runtime):
    ids = _setup(runtime, n_subscribers=3)
    with runtime.db.session() as session:
        plan = plan_deliveries(session, DAY)
    assert len(plan.planned) == 3
    with runtime.db.session() as session:
        unsubscribe(session, session.get(Subscriber, ids[0]))
        suppress(session, "reader1@example.com", "bounce")
    result = send_batch(runtime, plan.planned)
    assert (result.sent, result.skipped) == (1, 2)
    assert [m["To"] for m in _emls(runtime)] == ["reader2@example.com"]
    with runtime.db.session() as session:
        reasons = dict(session.execute(select(Delivery.subscriber_id, Delivery.skip_reason)).all())
    assert "unsubscribed" in reasons[ids[0]] and "suppressed" in reasons[ids[1]]


def test_a_delivery_claimed_twice_is_sent_once(runtime):
    _setup(runtime, n_subscribers=2)
    with runtime.db.session() as session:
        ids = plan_deliveries(session, DAY).planned
    first, second = send_batch(runtime, ids), send_batch(runtime, ids)  # a redelivered task
    assert (first.sent, second.sent, second.skipped) == (2, 0, 0)
    assert len(_emls(runtime)) == 2


def test_a_dead_workers_claim_is_taken_over_only_after_the_lease(runtime):
    _setup(runtime, n_subscribers=1)
    with runtime.db.session() as session:
        (delivery_id,) = plan_deliveries(session, DAY).planned
        [c], held = states.claim(session, [delivery_id])  # the worker that claimed it then died
    assert held == []
    report = send_due_digests(runtime, DAY)
    assert (report["sent"], report["failed"]) == (0, 0)  # within the lease: left alone, not counted as failed
    later = dt.datetime.now(dt.UTC) + states.LEASE + dt.timedelta(minutes=1)
    assert send_due_digests(runtime, DAY, now=later)["sent"] == 1
    with runtime.db.session() as session:
        assert session.get(Delivery, delivery_id).attempts == 2
        assert states.fail(session, [(c, "late worker wakes up")], from_status="sending") == set()  # fenced off


def test_a_submission_whose_outcome_is_unknown_is_settled_not_resent(runtime):
    _setup(runtime, n_subscribers=2)
    outbox = OutboxBackend(runtime.settings.OUTBOX_DIR)
    with runtime.db.session() as session:
        a, b = plan_deliveries(session, DAY).planned
    for delivery_id in (a, b):
        with runtime.db.session() as session:
            [c], _ = states.claim(session, [delivery_id])
            assert states.mark_submitting(session, [(c, f"<{delivery_id}@test>")]) == {delivery_id}
    # The worker of ``a`` crashed after the outbox accepted the file; the worker of ``b`` before it wrote it.
    from service.mail.message import OutgoingMessage

    outbox.send(
        OutgoingMessage(
            to="reader0@example.com",
            from_="P <p@example.com>",
            subject="s",
            text="t",
            html=None,
            message_id=f"<{a}@test>",
            delivery_id=a,
        )
    )
    later = dt.datetime.now(dt.UTC) + states.LEASE + dt.timedelta(minutes=1)
    report = send_due_digests(runtime, DAY, now=later)
    assert report["sent"] == 1  # only b, re-sent because we know it was never accepted
    with runtime.db.session() as session:
        assert session.get(Delivery, a).status == "sent" and session.get(Delivery, b).status == "sent"
    assert len(_emls(runtime)) == 2
