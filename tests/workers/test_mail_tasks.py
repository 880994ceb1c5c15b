"""Transactional emails through the real broker: a signup queues its confirmation, a real worker process sends it
to the SendGrid stand-in, a provider outage delays it instead of losing it, and with no broker to take it the
request sends it itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.runtime import Runtime
from service.subscribers.emails import QUEUED, SENT
from service.subscribers.emails import queue_or_send as queue_transactional
from service.subscribers.lifecycle import find_by_email
from service.subscribers.requests import SENT_CONFIRMATION, request_subscription
from tests.workers.support import Worker, free_port, process_env, recipients, wait_for

SETTINGS_FROM_ENV = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_KEY_PREFIX",
    "EMAIL_BACKEND",
    "SENDGRID_API_KEY",
    "SENDGRID_API_HOST",
    "SECRET_KEY",
    "BASE_URL",
    "TASK_RETRY_BASE_S",
)


def _web_runtime(env: dict[str, str], tmp_path, **overrides: str) -> Runtime:  # noqa: ANN001
    """The web app's side: the same settings as the workers (as docker-compose gives both)."""
    settings = {k: env[k] for k in SETTINGS_FROM_ENV} | {"INSTANCE_DIR": tmp_path / "web"} | overrides
    return Runtime.from_env(settings)


def _confirmations(sink, address: str) -> list[dict]:  # noqa: ANN001
    """The accepted requests to ``address`` whose text carries a confirmation link."""
    return [
        m
        for m in sink.received
        if m["to"] == address and any("/confirm/" in part["value"] for part in m["body"]["content"])
    ]


@pytest.fixture
def env(pg_runtime, pg_database_url, broker, sink, tmp_path) -> dict[str, str]:  # noqa: ANN001
    """The workers' environment: this test's PostgreSQL database, broker namespace and SendGrid stand-in."""
    return process_env(pg_database_url, broker, sink.url, tmp_path)


@pytest.fixture
def web(env, tmp_path) -> Iterator[Runtime]:  # noqa: ANN001
    rt = _web_runtime(env, tmp_path)
    yield rt
    rt.close()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_a_signup_is_answered_without_the_provider_and_its_confirmation_sent_by_a_worker(
    pg_runtime, env, web, sink, workers
) -> None:
    assert request_subscription(web, "new.reader@example.com", ["robots"]) == SENT_CONFIRMATION
    assert sink.received == []  # the request only queued it: no worker is running yet

    workers.append(Worker(env, "mail", concurrency=1, queues="default").start())
    wait_for(lambda: recipients(sink)["new.reader@example.com"] == 1, 60, "the confirmation email")
    assert len(_confirmations(sink, "new.reader@example.com")) == 1
    with pg_runtime.db.session() as session:
        assert find_by_email(session, "new.reader@example.com").status == "unconfirmed"


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_a_provider_outage_delays_the_confirmation_instead_of_losing_it(env, web, sink, workers) -> None:
    sink.fail_next(503, times=6)  # more than the backend's own 4 attempts: the task itself must retry
    request_subscription(web, "patient@example.com")
    worker = Worker(env, "mail", concurrency=1, queues="default").start()
    workers.append(worker)
    wait_for(lambda: recipients(sink)["patient@example.com"] == 1, 90, "the confirmation after the outage")
    assert len(_confirmations(sink, "patient@example.com")) == 1
    assert any("retrying" in line or "Retry in" in line for line in worker.lines), worker.output()


@pytest.mark.postgres
@pytest.mark.redis
def test_with_no_broker_to_take_it_the_request_sends_the_email_itself(env, sink, tmp_path) -> None:
    web = _web_runtime(env, tmp_path, CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/9")  # nobody listens
    try:
        request_subscription(web, "now@example.com")
    finally:
        web.close()
    assert len(_confirmations(sink, "now@example.com")) == 1  # sent within the request, not dropped


def test_an_unknown_email_kind_is_refused_by_name(runtime) -> None:
    with pytest.raises(ValueError, match="unknown transactional email 'welcome'.*confirmation"):
        queue_transactional(runtime, "welcome", 1)


def test_without_a_broker_the_email_goes_out_in_the_request(runtime) -> None:
    from tests.web.support import add_subscriber, outbox_messages

    subscriber_id = add_subscriber(runtime, "inline@example.com", status="unconfirmed").id
    assert queue_transactional(runtime, "confirmation", subscriber_id) == SENT != QUEUED
    assert [m["To"] for m in outbox_messages(runtime)] == ["inline@example.com"]
