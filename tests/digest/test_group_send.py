"""Sending in groups: each group marked ``submitting`` in one statement right before it goes out, answers
recorded in one statement, the claims' fencing tokens honoured row by row, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from service.digest import states, states_pg
from service.digest.batch import send_batch
from service.digest.plan import plan_deliveries
from service.mail.backends import SendResult
from service.mail.backends.outbox import OutboxBackend
from service.models import Delivery, Interaction
from tests.digest.conftest import DAY, add_papers, add_subscriber


def _planned(rt, n: int) -> list[int]:
    with rt.db.session() as session:
        add_papers(session, 4)
        for i in range(n):
            add_subscriber(session, f"reader{i}@example.com")
        return plan_deliveries(session, DAY).planned


def test_group_marks_and_records_only_rows_still_under_their_claim(any_runtime):
    rt = any_runtime
    ids = _planned(rt, 4)
    with rt.db.session() as session:
        taken, _ = states.claim(session, ids)
    stale = states.Claim(taken[1].delivery_id, taken[1].attempt - 1)  # a claim another worker has since renewed
    with rt.db.session() as session:
        marked = states.mark_submitting(session, [(c, f"<m{c.delivery_id}@t>") for c in (taken[0], stale, taken[2])])
    assert marked == {taken[0].delivery_id, taken[2].delivery_id}
    with rt.db.session() as session:
        done = states.record_sent(
            session,
            [
                (taken[0], "sg-0"),
                (taken[2], None),  # the provider gave no id
                (taken[3], "sg-3"),  # never marked submitting: not recorded as sent
            ],
        )
    assert done == {taken[0].delivery_id, taken[2].delivery_id}
    with rt.db.session() as session:
        rows = {d.id: d for d in session.scalars(select(Delivery))}
        interactions = session.scalar(select(func.count()).select_from(Interaction))
    assert (rows[taken[0].delivery_id].status, rows[taken[0].delivery_id].provider_message_id) == ("sent", "sg-0")
    assert rows[taken[0].delivery_id].message_id == f"<m{taken[0].delivery_id}@t>"
    assert (rows[taken[2].delivery_id].status, rows[taken[2].delivery_id].provider_message_id) == ("sent", None)
    assert rows[taken[1].delivery_id].status == "sending" and rows[taken[3].delivery_id].status == "sending"
    assert interactions == 0  # what a digest showed is its picks, not a row per paper


class CountingOutbox(OutboxBackend):
    """The outbox, noting what was already marked ``submitting`` whenever a group goes out."""

    in_flight = 3

    def __init__(self, directory, rt) -> None:  # noqa: ANN001
        super().__init__(directory)
        self.rt = rt
        self.groups: list[list[int]] = []
        self.submitting_seen: list[int] = []

    def send_many(self, messages):  # noqa: ANN001, ANN201
        with self.rt.db.session() as session:
            self.submitting_seen.append(
                session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "submitting"))
            )
        self.groups.append([m.delivery_id for m in messages])
        return super().send_many(messages)


def test_a_batch_goes_out_in_groups_marked_just_before_each_one(any_runtime):
    rt = any_runtime
    ids = _planned(rt, 7)
    backend = CountingOutbox(rt.settings.OUTBOX_DIR, rt)
    result = send_batch(rt, ids, backend=backend)
    assert result.sent == 7
    assert [len(g) for g in backend.groups] == [3, 3, 1]
    # while a group was going out, only that group was in doubt: the earlier ones were already recorded
    assert backend.submitting_seen == [3, 3, 1]
    with rt.db.session() as session:
        assert set(session.scalars(select(Delivery.status))) == {"sent"}
        assert all(session.scalars(select(Delivery.picks)))  # every sent digest keeps what it showed


def test_prepare_encodes_the_sendgrid_body_once_before_the_send(sink):
    import json

    from service.mail.backends.sendgrid import SendGridBackend, v3_body
    from service.mail.message import OutgoingMessage

    backend = SendGridBackend("SG.test-key", sink.url)
    message = OutgoingMessage(
        to="a@example.com", from_="P <p@example.com>", subject="s", text="t", html="<p>h</p>", message_id="<x@t>"
    )
    ready = backend.prepare(message)
    assert json.loads(ready.payload) == v3_body(message) and backend.prepare(ready) is ready
    assert isinstance(backend.send(ready), SendResult)
    assert sink.received[0]["body"] == v3_body(message)


def test_planning_twice_creates_each_delivery_once_with_skips_recorded(any_runtime):
    rt = any_runtime
    ids = _planned(rt, 3)
    with rt.db.session() as session:
        add_subscriber(session, "late@example.com")  # subscribed after the first plan
        again = plan_deliveries(session, DAY)
    assert len(ids) == 3 and len(again.planned) == 1 and again.skipped == 0
    with rt.db.session() as session:
        rows = session.execute(select(Delivery.status, Delivery.picks, Delivery.attempts)).all()
    assert len(rows) == 4 and {(status, tuple(picks), attempts) for status, picks, attempts in rows} == {
        ("planned", (), 0)
    }


def test_array_literals_round_trip_any_text_through_postgresql(pg_runtime):
    from sqlalchemy import text

    values = ["<d1.ab@x.org>", 'quote " and \\ backslash', "comma, {brace}", "", "NULL", None, "ünï ✓"]
    with pg_runtime.db.session() as session:
        back = session.scalar(text("SELECT CAST(:v AS varchar[])"), {"v": states_pg.pg_array(values)})
        numbers = session.scalar(
            text("SELECT CAST(:v AS integer[])"), {"v": states_pg.pg_int_array([3, -1, 2**31 - 1])}
        )
        empty = session.scalar(text("SELECT CAST(:v AS integer[])"), {"v": states_pg.pg_int_array([])})
    assert back == values
    assert numbers == [3, -1, 2**31 - 1]
    assert empty == []


def test_streamed_planning_hands_over_each_chunk_committed_and_skips_what_is_planned(any_runtime, monkeypatch):
    from service.digest import plan as planning

    rt = any_runtime
    monkeypatch.setattr(planning, "PLAN_CHUNK", 3)
    with rt.db.session() as session:
        add_papers(session, 4)
        subscribers = [add_subscriber(session, f"reader{i}@example.com") for i in range(8)]
    with rt.db.session() as session:
        first = plan_deliveries(session, DAY)  # reader0..7 planned in one go
    with rt.db.session() as session:
        session.execute(Delivery.__table__.delete().where(Delivery.subscriber_id.in_(subscribers[2:5])))
        add_subscriber(session, "late@example.com")

    handed: list[list[int]] = []

    def take(ids: list[int]) -> None:  # what a worker would see at that moment, through its own connection
        with rt.db.session() as other:
            visible = set(other.scalars(select(Delivery.id).where(Delivery.id.in_(ids), Delivery.status == "planned")))
        assert visible == set(ids)
        handed.append(ids)

    with rt.db.session() as session:
        again = plan_deliveries(session, DAY, on_chunk=take)
    assert len(first.planned) == 8
    assert [len(chunk) for chunk in handed] == [1, 2, 1]  # ids 1-3: 3 missing; 4-6: 4, 5; 7-9: the late one
    assert sorted(i for chunk in handed for i in chunk) == sorted(again.planned)
    with rt.db.session() as session:
        per_subscriber = session.execute(select(Delivery.subscriber_id, func.count()).group_by(Delivery.subscriber_id))
        assert {count for _, count in per_subscriber} == {1}


def test_planning_into_a_table_postgresql_thinks_small_refreshes_its_statistics(pg_runtime):
    from sqlalchemy import text

    rt = pg_runtime
    reltuples = text("SELECT reltuples FROM pg_class WHERE oid = 'deliveries'::regclass")
    with rt.db.session() as session:
        assert session.scalar(reltuples) < 0  # never analysed: PostgreSQL would guess the table's size
    ids = _planned(rt, 6)
    with rt.db.session() as session:
        assert session.scalar(reltuples) == len(ids) == 6


def test_a_claim_whose_answer_was_lost_is_taken_back_by_the_retry_while_others_stay_held(any_runtime):
    from service.digest.batch import Progress

    rt = any_runtime
    ids = _planned(rt, 5)
    mine, theirs = ids[:3], ids[3:]
    lost = states.claim_stamp()
    with rt.db.session() as session:  # committed, but the connection dropped before the answer came back
        states.claim(session, mine, stamp=lost)
    with rt.db.session() as session:  # a live claim of another worker
        states.claim(session, theirs)

    result = send_batch(rt, ids, progress=Progress(stamps=[lost.isoformat()]))

    assert result.sent == 3 and result.held == theirs  # not waited out for the lease: ours again at once
    with rt.db.session() as session:
        statuses = dict(session.execute(select(Delivery.id, Delivery.status)).all())
    assert [statuses[i] for i in ids] == ["sent"] * 3 + ["sending"] * 2


def test_a_group_whose_submitting_mark_lost_its_answer_is_sent_by_the_retry_exactly_once(any_runtime):
    from service.digest.batch import Progress

    rt = any_runtime
    ids = _planned(rt, 3)
    with rt.db.session() as session:
        taken, _ = states.claim(session, ids)
    with rt.db.session() as session:  # committed, but the answer was lost: the worker never posted this group
        states.mark_submitting(session, [(c, f"<lost{c.delivery_id}@t>") for c in taken[:2]])

    result = send_batch(rt, ids, progress=Progress(owned={c.delivery_id: c.attempt for c in taken}))

    assert result.sent == 3 and result.held == [] and result.failed == 0
    with rt.db.session() as session:
        rows = session.execute(select(Delivery.status, Delivery.message_id)).all()
    assert {status for status, _ in rows} == {"sent"}
    assert not any(message_id.startswith("<lost") for _, message_id in rows)  # the messages that went out
    assert len(list(rt.settings.OUTBOX_DIR.glob("delivery-*.eml"))) == 3  # each once
