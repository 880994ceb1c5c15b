"""The lookups on the reader-facing paths stay off the send's rows on PostgreSQL.

A send appends 13 ``sent`` interactions per digest (1.3M a day at 100k readers). With a day of them in the
table, the statements the code actually issues for a click (is it a scanner's burst?), a "more/less" answer
(already recorded?) and trending (engaged readers per paper) must use their partial indexes rather than read
those rows; so must the queries of a ``/metrics`` scrape, against a year of deliveries. The statements are
captured as the functions run and explained with their own parameters.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, insert, text

from service.models import Delivery, Paper, Subscriber, utcnow
from service.observability import DatabaseCollector
from service.recommend import train
from service.recommend.trending import trending_for
from service.subscribers.tracking import record_click, record_feedback

pytestmark = pytest.mark.postgres


def _captured(rt, run):  # noqa: ANN001, ANN202
    """(statement, parameters) of every SELECT that ``run(session)`` sends."""
    seen: list[tuple[str, object]] = []

    def note(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(rt.db.engine, "before_cursor_execute", note)
    try:
        with rt.db.session() as session:
            run(session)
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", note)
    return seen


def _plan(rt, statement: str, parameters) -> str:  # noqa: ANN001
    with rt.db.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters)
        return "\n".join(row[0] for row in rows)


def test_click_feedback_and_trending_lookups_use_their_indexes_not_the_day_of_clicks(pg_runtime):
    rt = pg_runtime
    with rt.db.session() as session:
        reader = Subscriber(email="reader@example.com", status="confirmed", confirmed_at=utcnow())
        papers = [Paper(title=f"Paper {i}", title_key=f"paper-{i}", listing_date=dt.date(2025, 6, 3)) for i in range(3)]
        session.add_all([reader, *papers])
        session.flush()
        delivery = Delivery(subscriber_id=reader.id, digest_date=dt.date(2025, 6, 3), status="sent", picks=[])
        session.add(delivery)
        session.flush()
        ids = {"reader": reader.id, "delivery": delivery.id, "papers": [p.id for p in papers]}
        session.execute(  # a busy day: 200k clicks on other papers, of other deliveries, recent
            text(
                "INSERT INTO interactions (subscriber_id, paper_id, delivery_id, kind, position, created_at,"
                " suspected_scanner) SELECT :reader, :paper0 + 10 + (g % 300), g + 10, 'click', 1, now(), false"
                " FROM generate_series(1, 200000) AS g"
            ),
            {"reader": reader.id, "paper0": papers[0].id},
        )
        session.execute(text("ANALYZE interactions"))

    def click_and_feedback(session) -> None:  # noqa: ANN001
        kwargs = {"subscriber_id": ids["reader"], "delivery_id": ids["delivery"], "paper_id": ids["papers"][0]}
        record_click(session, **kwargs, position=1, user_agent="Mozilla/5.0")
        record_feedback(session, delivery_id=ids["delivery"], paper_id=ids["papers"][1], kind="more")

    def trending(session) -> None:  # noqa: ANN001
        trending_for(session, [session.get(Paper, i) for i in ids["papers"]])

    lookups = [
        (s, p) for s, p in _captured(rt, click_and_feedback) + _captured(rt, trending) if "FROM interactions" in s
    ]
    plans = [_plan(rt, s, p) for s, p in lookups]
    assert len(plans) == 3  # the burst check, the "already recorded" check, the trending count
    # burst check: a delivery's reactions, or the last seconds' clicks (migration 0003): both leave out sent rows
    assert "ix_interactions_reactions" in plans[0] or "ix_interactions_clicks" in plans[0], plans[0]
    assert "ix_interactions_reactions" in plans[1], plans[1]
    # trending: either partial index (both leave the sent rows out; while clicks are few the planner may take
    # the smaller one), never the paper_id index, which holds every sent row of the paper
    assert "ix_interactions_engaged" in plans[2] or "ix_interactions_reactions" in plans[2], plans[2]
    assert not any("Seq Scan on interactions" in plan or "ix_interactions_paper_id" in plan for plan in plans), plans


def test_metrics_scrape_reads_the_days_in_progress_through_indexes_not_the_history(pg_runtime):
    """Prometheus scrapes every few seconds: with a year of deliveries and of clicks in the tables,
    no query of ``/metrics`` may read either table whole."""
    rt = pg_runtime
    with rt.db.session() as session:
        session.execute(
            insert(Subscriber), [{"email": f"r{i}@example.com", "status": "confirmed"} for i in range(1000)]
        )
        session.execute(  # a year of history: 1,000 readers' digests on each of 365 days
            text(
                "INSERT INTO deliveries (subscriber_id, digest_date, status, picks, planned_at, sent_at, attempts)"
                " SELECT s.id, current_date - d, 'sent', '[]', now() - make_interval(days => d),"
                " now() - make_interval(days => d), 1"
                " FROM subscribers AS s, generate_series(1, 365) AS d"
            )
        )
        session.execute(  # a year of clicks: 200k, a few hundred of them in the last day
            text(
                "INSERT INTO interactions (subscriber_id, paper_id, delivery_id, kind, position, created_at,"
                " suspected_scanner) SELECT (SELECT min(id) FROM subscribers), g % 200, g, 'click', 1,"
                " now() - make_interval(secs => g * 157), false FROM generate_series(1, 200000) AS g"
            )
        )
        session.execute(text("ANALYZE"))

    def scrape(session) -> None:  # noqa: ANN001
        list(DatabaseCollector(rt).collect())

    plans = [_plan(rt, s, p) for s, p in _captured(rt, scrape) if "FROM deliveries" in s or "FROM interactions" in s]
    assert len(plans) == 3, plans  # digests by status, clicks of the last day, send latency
    assert not any("Seq Scan on deliveries" in plan or "Seq Scan on interactions" in plan for plan in plans), plans
    assert "ix_interactions_clicks" in plans[1], plans[1]
    # the deliveries are read by a range of digest dates, not a full pass over the index either
    assert all("Index Cond: ((digest_date >= " in plan for plan in (plans[0], plans[2])), plans


def test_training_reads_recent_digests_and_reactions_through_indexes_not_the_old_digests(pg_runtime):
    """Nightly training must not read the whole history: a year of digests is 36M at 100k readers."""
    rt = pg_runtime
    with rt.db.session() as session:
        session.execute(
            insert(Subscriber), [{"email": f"r{i}@example.com", "status": "confirmed"} for i in range(1000)]
        )
        session.execute(  # 200 days of digests of 1,000 readers, 3 papers each
            text(
                "INSERT INTO deliveries (subscriber_id, digest_date, status, picks, planned_at, sent_at, attempts)"
                " SELECT s.id, current_date - d, 'sent',"
                ' \'[{"paper_id": 1}, {"paper_id": 2}, {"paper_id": 3}]\', now(), now(), 1'
                " FROM subscribers AS s, generate_series(1, 200) AS d"
            )
        )
        session.execute(text("ANALYZE"))

    with rt.db.session() as session:
        since = train.impressions_since(session, rt.settings.TRAINING_IMPRESSION_DAYS)
    plan = _plan(rt, train.events_sql(rt.db.engine.dialect, since), None)
    # the digests of the impression window only, through the (digest_date, status) index; the reactions are read
    # whole (clicks and "more"/"less" of any age are learned from), which is what the interactions table now holds
    assert "Seq Scan on deliveries" not in plan and "ix_deliveries_date_status" in plan, plan
