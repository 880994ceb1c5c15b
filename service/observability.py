"""Structured logs and Prometheus metrics.

Counts that several processes change (digests, clicks) are read from the database at scrape time, so every
web process reports the same truth however many gunicorn and Celery processes there are. Task latency is
measured where tasks run, by Flower's own ``/metrics`` (docker-compose runs it); here the send latency of
digests (planned → sent) over the last day is derived from the delivery rows.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
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


def web_registry(rt: Runtime) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(rt))
    return registry
