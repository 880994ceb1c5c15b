"""Fixtures for the worker integration tests: a broker namespace on the real Redis, a SendGrid sink, workers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.workers.support import BrokerNamespace, Worker
from tools.sendgrid_sink import SendGridSink


@pytest.fixture
def broker(redis_url: str) -> Iterator[BrokerNamespace]:
    ns = BrokerNamespace(redis_url)
    ns.clear()
    yield ns
    ns.clear()


@pytest.fixture
def sink() -> Iterator[SendGridSink]:
    with SendGridSink(api_key="SG.worker-test") as s:
        yield s


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """Every worker a test starts is stopped at the end, whatever happened."""
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()
