"""``/metrics`` and ``/healthz``: what an operator's Prometheus scrapes, and the JSON log lines."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.models import Delivery, Interaction, ModelVersion, utcnow
from service.observability import JsonFormatter, TaskMetrics, send_latency_quantiles
from tests.workers.support import add_papers, add_subscribers


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_report_the_days_in_progress_clicks_latency_and_the_model_in_use(app, client, runtime) -> None:
    now = utcnow()
    today, long_ago = now.date(), now.date() - dt.timedelta(days=30)
    with runtime.db.session() as session:
        papers = add_papers(session, 2)
        add_subscribers(session, 5)
        rows = [(1, today, "sent"), (2, today, "sent"), (3, today, "failed"), (4, today, "planned")]
        rows.append((5, long_ago, "sent"))  # an old day: history, not part of the days in progress
        for sub, day, status in rows:
            sent_at = now if day == today and status == "sent" else None
            planned_at = now - dt.timedelta(seconds=90)
            session.add(
                Delivery(subscriber_id=sub, digest_date=day, status=status, planned_at=planned_at, sent_at=sent_at)
            )
        session.flush()
        session.add_all(
            [
                Interaction(subscriber_id=1, paper_id=papers[0], delivery_id=1, kind="click"),
                Interaction(subscriber_id=2, paper_id=papers[0], delivery_id=2, kind="click"),
                Interaction(subscriber_id=2, paper_id=papers[1], delivery_id=2, kind="click", suspected_scanner=True),
                Interaction(subscriber_id=2, paper_id=papers[1], delivery_id=2, kind="more"),
                Interaction(
                    subscriber_id=5,
                    paper_id=papers[0],
                    delivery_id=5,
                    kind="click",
                    created_at=now - dt.timedelta(days=2),
                ),
            ]
        )
        session.add(ModelVersion(status="ready", finished_at=now - dt.timedelta(hours=2)))

    response = client.get("/metrics")

    assert response.status_code == 200 and response.mimetype == "text/plain"
    samples = _samples(response.get_data(as_text=True))
    assert samples[("paperboy_digests", (("status", "sent"),))] == 2
    assert samples[("paperboy_digests", (("status", "failed"),))] == 1
    assert samples[("paperboy_digests", (("status", "planned"),))] == 1
    assert samples[("paperboy_digests", (("status", "skipped"),))] == 0  # every status is there, for alert rules
    assert samples[("paperboy_clicks_last_day", (("scanner", "false"),))] == 2
    assert samples[("paperboy_clicks_last_day", (("scanner", "true"),))] == 1
    assert samples[("paperboy_model_version", ())] == 1
    assert 7100 < samples[("paperboy_model_age_seconds", ())] < 7300
    assert 85 < samples[("paperboy_digest_send_latency_seconds", (("quantile", "0.5"),))] < 95


@pytest.mark.postgres
def test_send_latency_quantiles_agree_on_postgresql_and_sqlite(runtime, pg_runtime) -> None:
    now = utcnow()
    waits = [10, 20, 30, 40, 50, 60, 70, 80, 90, 1000]  # seconds from planned to sent
    found = []
    for rt in (runtime, pg_runtime):
        with rt.db.session() as session:
            add_subscribers(session, len(waits))
            for sub, wait in enumerate(waits, start=1):
                sent_at = now - dt.timedelta(minutes=5)
                planned_at = sent_at - dt.timedelta(seconds=wait)
                session.add(
                    Delivery(
                        subscriber_id=sub, digest_date=now.date(), status="sent", planned_at=planned_at, sent_at=sent_at
                    )
                )
            session.flush()
            found.append(send_latency_quantiles(session, now - dt.timedelta(days=1), now.date() - dt.timedelta(days=3)))
    assert found[0] == found[1] == {0.5: 50.0, 0.95: 1000.0, 0.99: 1000.0}


def test_healthz_says_the_database_answers(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok", "database": "ok"}


@pytest.mark.redis
def test_task_latency_recorded_by_workers_is_exported_as_a_histogram(redis_url: str) -> None:
    metrics = TaskMetrics.from_url(redis_url, prefix=f"pbtest-{uuid.uuid4().hex[:8]}:")
    try:
        metrics.observe("workers.tasks.send.send_batch", "SUCCESS", 0.3)
        metrics.observe("workers.tasks.send.send_batch", "SUCCESS", 4.0)
        metrics.observe("workers.tasks.send.send_batch", "RETRY", 0.02)
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry()
        registry.register(metrics)
        samples = _samples(generate_latest(registry).decode())
    finally:
        metrics.client.delete(metrics.key)
    task = ("task", "workers.tasks.send.send_batch")
    assert samples[("paperboy_task_duration_seconds_count", (task,))] == 3
    assert samples[("paperboy_task_duration_seconds_bucket", (("le", "0.5"), task))] == 2
    assert samples[("paperboy_task_duration_seconds_bucket", (("le", "5.0"), task))] == 3
    assert samples[("paperboy_task_duration_seconds_sum", (task,))] == pytest.approx(4.32)
    assert samples[("paperboy_tasks_total", (("state", "SUCCESS"), task))] == 2


def test_task_metrics_never_fail_when_redis_is_away() -> None:
    metrics = TaskMetrics.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    metrics.observe("workers.tasks.send.send_batch", "SUCCESS", 0.1)  # no exception
    assert list(metrics.collect()) == []


def test_log_lines_are_json_with_the_structured_fields() -> None:
    record = logging.LogRecord("paperboy.send", logging.INFO, __file__, 1, "digests sent %s", ("ok",), None)
    record.pb_sent = 40
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "digests sent ok" and line["sent"] == 40 and line["level"] == "info"
