"""The hourly planner task: plans the subscribers whose send hour has come and sends each planned chunk as soon
as it is committed (here with the eager app: every batch runs inline, through the outbox)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from service.digest import plan as planning
from service.models import Delivery
from tests.digest.conftest import DAY, add_papers, add_subscriber


def test_the_hourly_planner_sends_each_chunk_as_it_is_planned_and_only_due_readers(runtime, monkeypatch):
    import workers.tasks.send as tasks

    monkeypatch.setattr(tasks, "get_runtime", lambda: runtime)
    monkeypatch.setattr(planning, "PLAN_CHUNK", 2)
    dispatched: list[list[int]] = []
    real_delay = tasks.send_batch.delay
    monkeypatch.setattr(tasks.send_batch, "delay", lambda ids: dispatched.append(list(ids)) or real_delay(ids))
    with runtime.db.session() as session:
        add_papers(session, 4)
        due = [add_subscriber(session, f"early{i}@example.com", send_hour=7) for i in range(5)]
        late = add_subscriber(session, "late@example.com", send_hour=20)

    totals = tasks.plan_due_digests.apply(args=[dt.datetime.combine(DAY, dt.time(9), dt.UTC).isoformat()]).get()

    assert totals["planned"] == 5 and totals["failed"] == 0
    assert [len(ids) for ids in dispatched] == [2, 2, 1]  # one hand-over per planned chunk, not one at the end
    with runtime.db.session() as session:
        rows = dict(session.execute(select(Delivery.subscriber_id, Delivery.status)).all())
    assert rows == dict.fromkeys(due, "sent")  # the 20:00 reader waits for a later hour
    assert late not in rows
    sent_files = sorted(runtime.settings.OUTBOX_DIR.glob("delivery-*.eml"))
    assert len(sent_files) == 5
