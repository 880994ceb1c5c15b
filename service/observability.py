"""Structured logs and Prometheus metrics.

Counts that several processes change (digests, clicks) are read from the database at scrape time, so every
web process reports the same truth however many gunicorn and Celery processes there are; each is a gauge over
the days in progress (an index range), not an all-time count (a scan of a table that grows every day). Task latency is
measured where tasks run (``workers/app.py`` signals) and accumulated in Redis as a histogram (``TaskMetrics``),
which every web process reads at scrape time; the send latency of digests (planned → sent) over the last day
is derived from the delivery rows.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from service.db import on_postgresql
from service.models import CLICK_ROWS, Delivery, DeliveryStatus, Interaction, ModelVersion, utcnow
from service.redact import RedactingFilter
from service.runtime import Runtime


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what log shippers parse without regexes."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key.startswith("pb_"):
                entry[key[3:]] = value
        if record.exc_info or record.exc_text:  # exc_text: as a filter left it (``RedactingFilter``)
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Send the root logger to stderr, as JSON lines in production, with link tokens masked (``redact``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


# Digest dates in progress somewhere: a reader's digest belongs to their local date, which is UTC's yesterday,
# today or tomorrow depending on their zone.
DATES_IN_PROGRESS = (-1, 1)
# Sends of the last day belong to digest dates no older than this (retries and catch-ups included): the bound
# lets the latency query use the (digest_date, status) index instead of reading every delivery ever sent.
LATENCY_DATES_BACK = 3
QUANTILES = (0.5, 0.95, 0.99)


class DatabaseCollector:
    """Digest, click and model metrics computed from the database on every scrape.

    Every query is bounded by an index to the days in progress, never the whole history: Prometheus scrapes
    every few seconds, and the tables grow by 100k deliveries and 1.3M interactions a day at scale
    (``tests/test_query_plans.py`` checks the plans on PostgreSQL).
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self):  # noqa: ANN201 - prometheus_client's collector protocol
        digests = GaugeMetricFamily(
            "paperboy_digests",
            "Deliveries of the digest dates in progress (UTC yesterday, today, tomorrow: readers' local dates), "
            "by status.",
            labels=["status"],
        )
        clicks = GaugeMetricFamily(
            "paperboy_clicks_last_day",
            "Clicks recorded in the last 24 hours, by whether they look like a link scanner's.",
            labels=["scanner"],
        )
        version = GaugeMetricFamily("paperboy_model_version", "Id of the model digests use now (0: none).")
        age = GaugeMetricFamily("paperboy_model_age_seconds", "Age of the model digests use now.")
        latency = GaugeMetricFamily(
            "paperboy_digest_send_latency_seconds",
            "Planned-to-sent time of the digests sent in the last 24 hours, by quantile.",
            labels=["quantile"],
        )
        now = utcnow()
        today = now.date()
        since = now - dt.timedelta(days=1)
        with self.rt.db.session() as session:
            by_status = dict.fromkeys(map(str, DeliveryStatus), 0)
            first, last = (today + dt.timedelta(days=d) for d in DATES_IN_PROGRESS)
            by_status.update(
                session.execute(
                    select(Delivery.status, func.count())
                    .where(Delivery.digest_date.between(first, last))
                    .group_by(Delivery.status)
                ).all()
            )
            for status, count in sorted(by_status.items()):
                digests.add_metric([status], count)
            found = dict(
                session.execute(
                    select(Interaction.suspected_scanner, func.count())
                    .where(text(CLICK_ROWS), Interaction.created_at >= since)  # the partial index's predicate
                    .group_by(Interaction.suspected_scanner)
                ).all()
            )
            for scanner in (False, True):
                clicks.add_metric(["true" if scanner else "false"], found.get(scanner, 0))
            latest = session.execute(
                select(ModelVersion.id, ModelVersion.finished_at)
                .where(ModelVersion.status == "ready")
                .order_by(ModelVersion.id.desc())
                .limit(1)
            ).first()
            waits = send_latency_quantiles(session, since, today - dt.timedelta(days=LATENCY_DATES_BACK))
        for q, wait in waits.items():
            latency.add_metric([str(q)], wait)
        version.add_metric([], latest.id if latest else 0)
        if latest and latest.finished_at:
            age.add_metric([], (now - latest.finished_at).total_seconds())
        yield from (digests, clicks, version, age, latency)


def send_latency_quantiles(session: Session, since: dt.datetime, oldest_date: dt.date) -> dict[float, float]:
    """Quantiles of planned-to-sent seconds of the digests sent since ``since`` (none when nothing was sent).

    PostgreSQL computes them (``percentile_disc``); elsewhere the waits are sorted here, with the same definition:
    the smallest wait that at least ``q`` of them do not exceed."""
    sent = (
        Delivery.digest_date >= oldest_date,
        Delivery.status == DeliveryStatus.SENT,
        Delivery.sent_at >= since,
    )
    if on_postgresql(session):
        wait = func.extract("epoch", Delivery.sent_at - Delivery.planned_at)
        row = session.execute(
            select(*(func.percentile_disc(q).within_group(wait) for q in QUANTILES)).where(*sent)
        ).one()
        return {q: float(v) for q, v in zip(QUANTILES, row, strict=True) if v is not None}
    waits = sorted(
        (sent_at - planned_at).total_seconds()
        for planned_at, sent_at in session.execute(select(Delivery.planned_at, Delivery.sent_at).where(*sent))
    )
    return {q: waits[max(0, math.ceil(q * len(waits)) - 1)] for q in QUANTILES} if waits else {}


TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
_log = logging.getLogger(__name__)


class TaskMetrics:
    """Task durations and outcomes as a histogram in one Redis hash, shared by every worker and web process.

    Workers ``observe``; the web's ``/metrics`` reads it back (``collect``). Redis being down costs a log line,
    never a task or a scrape: metrics are best effort by design.
    """

    KEY = "paperboy:task_metrics"

    def __init__(self, client: Any, prefix: str = "") -> None:
        self.client = client
        self.key = f"{prefix}{self.KEY}"
        self._quiet_until = 0.0

    @classmethod
    def from_url(cls, url: str, prefix: str = "") -> TaskMetrics:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return cls(client, prefix)

    def _warn(self, what: str, exc: Exception) -> None:
        if time.monotonic() >= self._quiet_until:  # at most one warning a minute while Redis is away
            _log.warning("task metrics: %s failed: %s", what, exc)
            self._quiet_until = time.monotonic() + 60

    def observe(self, task: str, state: str, seconds: float) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.hincrby(self.key, f"{task}|state|{state}", 1)
            pipe.hincrbyfloat(self.key, f"{task}|sum", seconds)
            for bound in TASK_BUCKETS:
                if seconds <= bound:
                    pipe.hincrby(self.key, f"{task}|le|{bound}", 1)
            pipe.hincrby(self.key, f"{task}|le|+Inf", 1)
            pipe.execute()
        except Exception as exc:  # noqa: BLE001 - best effort (module doc)
            self._warn("recording", exc)

    def collect(self):  # noqa: ANN201 - prometheus_client's collector protocol
        try:
            raw = self.client.hgetall(self.key)
        except Exception as exc:  # noqa: BLE001 - best effort (module doc)
            self._warn("reading", exc)
            return
        fields: dict[str, float] = {k.decode(): float(v) for k, v in raw.items()}
        latency = HistogramMetricFamily(
            "paperboy_task_duration_seconds", "Run time of Celery tasks on the workers.", labels=["task"]
        )
        outcomes = CounterMetricFamily(
            "paperboy_tasks", "Finished Celery task runs by final state.", labels=["task", "state"]
        )
        tasks = sorted({name.split("|", 1)[0] for name in fields})
        for task in tasks:
            buckets = [(str(b), fields.get(f"{task}|le|{b}", 0.0)) for b in TASK_BUCKETS]
            buckets.append(("+Inf", fields.get(f"{task}|le|+Inf", 0.0)))
            latency.add_metric([task], buckets, fields.get(f"{task}|sum", 0.0))
        for name, value in sorted(fields.items()):
            task, kind, rest = (name.split("|", 2) + ["", ""])[:3]
            if kind == "state":
                outcomes.add_metric([task, rest], value)
        yield latency
        yield outcomes


def web_registry(rt: Runtime) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(rt))
    url = rt.settings.REDIS_URL or rt.settings.CELERY_BROKER_URL
    if url:
        registry.register(TaskMetrics.from_url(url, prefix=rt.settings.CELERY_KEY_PREFIX))
    return registry
