"""Structured logs and Prometheus metrics.

Counts that several processes change (digests, clicks) are read from the database at scrape time, so every
web process reports the same truth however many gunicorn and Celery processes there are. Task latency is
measured where tasks run (``workers/app.py`` signals) and accumulated in Redis as a histogram (``TaskMetrics``),
which every web process reads at scrape time; the send latency of digests (planned → sent) over the last day
is derived from the delivery rows.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy import func, select

from service.models import Delivery, Interaction, ModelVersion, utcnow
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
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Send the root logger to stderr, as JSON lines in production."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class DatabaseCollector:
    """Digest, click and model metrics computed from the database on every scrape."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self):  # noqa: ANN201 - prometheus_client's collector protocol
        digests = CounterMetricFamily("paperboy_digests", "Digest deliveries by status (all time).", labels=["status"])
        clicks = CounterMetricFamily(
            "paperboy_clicks", "Recorded clicks, by whether they look like a link scanner's.", labels=["scanner"]
        )
        version = GaugeMetricFamily("paperboy_model_version", "Id of the model digests use now (0: none).")
        age = GaugeMetricFamily("paperboy_model_age_seconds", "Age of the model digests use now.")
        latency = GaugeMetricFamily(
            "paperboy_digest_send_latency_seconds",
            "Planned-to-sent time of the digests sent in the last 24 hours, by quantile.",
            labels=["quantile"],
        )
        with self.rt.db.session() as session:
            for status, count in session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)):
                digests.add_metric([status], count)
            rows = session.execute(
                select(Interaction.suspected_scanner, func.count())
                .where(Interaction.kind == "click")
                .group_by(Interaction.suspected_scanner)
            )
            for scanner, count in rows:
                clicks.add_metric(["true" if scanner else "false"], count)
            latest = session.execute(
                select(ModelVersion.id, ModelVersion.finished_at)
                .where(ModelVersion.status == "ready")
                .order_by(ModelVersion.id.desc())
                .limit(1)
            ).first()
            since = utcnow() - dt.timedelta(days=1)
            waits = sorted(
                (sent - planned).total_seconds()
                for planned, sent in session.execute(
                    select(Delivery.planned_at, Delivery.sent_at).where(Delivery.sent_at >= since)
                )
            )
        for q in (0.5, 0.95, 0.99):
            if waits:
                latency.add_metric([str(q)], waits[min(len(waits) - 1, int(q * len(waits)))])
        version.add_metric([], latest.id if latest else 0)
        if latest and latest.finished_at:
            age.add_metric([], (utcnow() - latest.finished_at).total_seconds())
        yield from (digests, clicks, version, age, latency)


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
