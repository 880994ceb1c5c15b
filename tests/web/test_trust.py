"""The forms that mail an address under abuse and outages: one budget per address, honest answers, bounded waits."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from service.models import Subscriber
from service.subscribers.lifecycle import find_by_email
from tests.web.support import add_subscriber, csrf_from, links_in, outbox_messages, path_of, reader


def _app(runtime, **overrides):
    from service import create_app

    settings = runtime.settings
    config = {
        "INSTANCE_DIR": settings.INSTANCE_DIR,
        "DATABASE_URL": settings.DATABASE_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "BASE_URL": settings.BASE_URL,
        "TESTING": True,
    }
    config.update(overrides)
    return create_app(config)


def _post(client, path, email, **extra):
    token = csrf_from(client.get(path if path != "/subscribe" else "/").text)
    return client.post(path, data={"csrf_token": token, "email": email, **extra})


def test_an_international_domain_is_stored_and_sent_in_ascii_and_shown_in_unicode(client, web_rt):
    answer = _post(client, "/subscribe", "Reader@Bücher.example")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    [message] = outbox_messages(web_rt)
    assert message["To"] == "reader@xn--bcher-kva.example"  # a valid header, no encoded word in the domain
    with web_rt.db.session() as session:
        subscriber = find_by_email(session, "reader@bücher.example")
        assert subscriber.email == "reader@xn--bcher-kva.example"
    [confirm_path] = links_in(message, "/confirm/")
    client.post(confirm_path, data={"csrf_token": csrf_from(client.get(confirm_path).text)})
    page = client.get(path_of(web_rt.links.preferences(reader(subscriber))))
    assert "reader@bücher.example" in page.text


@pytest.mark.parametrize("path", ["/subscribe", "/preferences"])
@pytest.mark.parametrize("typed", ["jörg@example.org", "KYÖSTI@example.org"])
def test_an_address_no_relay_can_carry_is_refused_at_the_form(client, web_rt, path, typed):
    answer = _post(client, path, typed)
    assert answer.status_code == 400
    assert "before the @" in answer.text and f'value="{typed}"' in answer.text  # the field keeps what was typed
    assert outbox_messages(web_rt) == []
    with web_rt.db.session() as session:
        assert session.query(Subscriber).count() == 0


def test_every_spelling_of_one_address_draws_on_one_budget_across_both_forms(client, web_rt):
    add_subscriber(web_rt, "victim@xn--bcher-kva.example")
    spellings = [
        ("/subscribe", "victim@bücher.example"),
        ("/preferences", "VICTIM@XN--BCHER-KVA.EXAMPLE"),
        ("/subscribe", "ｖｉｃｔｉｍ@bücher.example"),
        ("/preferences", "victim@bu\u0308cher.example"),
        ("/subscribe", "Victim@Bücher.Example"),
    ]
    codes = [_post(client, path, typed).status_code for path, typed in spellings]
    assert codes == [200, 200, 200, 429, 429]
    assert len(outbox_messages(web_rt)) == 3  # the inbox got the budget, not one budget per spelling


def test_behind_a_proxy_per_ip_limits_see_the_client(runtime):
    app = _app(runtime, TRUSTED_PROXIES=1)
    client = app.test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.1"}

    def post(i, client_ip):
        token = csrf_from(client.get("/", environ_base=proxy).text)
        return client.post(
            "/subscribe",
            data={"csrf_token": token, "email": f"r{i}@example.org"},
            environ_base=proxy,
            headers={"X-Forwarded-For": client_ip},
        ).status_code

    assert [post(i, "203.0.113.7") for i in range(11)] == [200] * 10 + [429]
    assert post(99, "198.51.100.8") == 200  # another client behind the same proxy has its own budget
    app.extensions["paperboy"].close()


def test_a_multi_process_server_on_memory_limits_is_warned_about(caplog):
    from service.config import Settings
    from service.web.limits import server_processes, warn_if_unshared

    assert server_processes(["gunicorn", "-w", "4", "service:create_app()"], {}) == 4
    assert server_processes(["gunicorn", "service:create_app()"], {"WEB_CONCURRENCY": "3"}) == 3
    settings = Settings(RATELIMIT_STORAGE_URI="memory://")
    with caplog.at_level(logging.ERROR):
        assert warn_if_unshared(settings, processes=4)
    assert "REDIS_URL" in caplog.text
    assert not warn_if_unshared(Settings(RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/1"), processes=4)
    assert not warn_if_unshared(settings, processes=1)


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def black_hole():
    """A broker that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("broker", ["refused", "black-hole"])
def test_with_the_broker_down_the_request_answers_promptly_and_the_email_still_goes(runtime, broker, request):
    port = _refused_port() if broker == "refused" else request.getfixturevalue("black_hole")
    app = _app(runtime, CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0")
    client = app.test_client()
    started = time.monotonic()
    answer = _post(client, "/subscribe", "patient@example.org")
    waited = time.monotonic() - started
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert len(outbox_messages(runtime)) == 1  # sent by the request itself
    assert waited < 10, f"the request waited {waited:.1f} s on a broker that is down"  # before: 19 s, or killed
    app.extensions["paperboy"].close()


@pytest.mark.parametrize("path", ["/subscribe", "/preferences"])
def test_with_the_database_down_nothing_is_claimed(runtime, path):
    app = _app(runtime, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{_refused_port()}/test")
    client = app.test_client()
    form = client.get("/preferences")  # a page without the database still offers the form and its token
    answer = client.post(path, data={"csrf_token": csrf_from(form.text), "email": "someone@example.org"})
    assert answer.status_code == 503 and "try again" in answer.text
    assert "Check your inbox" not in answer.text and answer.headers["Retry-After"]
    assert outbox_messages(runtime) == []
    assert client.get("/").status_code == 503
    app.extensions["paperboy"].close()


def test_with_no_way_to_send_the_email_the_visitor_is_told_to_try_again(runtime, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the outbox folder should be")
    app = _app(runtime, OUTBOX_DIR=blocked / "outbox")
    answer = _post(app.test_client(), "/subscribe", "hopeful@example.org")
    assert answer.status_code == 503 and "try again" in answer.text and "Check your inbox" not in answer.text
    app.extensions["paperboy"].close()


def test_a_confirmation_link_used_after_unsubscribing_does_not_resubscribe(client, web_rt):
    _post(client, "/subscribe", "changed-mind@example.org")
    [confirm_path] = links_in(outbox_messages(web_rt)[0], "/confirm/")
    page = client.get(confirm_path)
    client.post(confirm_path, data={"csrf_token": csrf_from(page.text)})
    with web_rt.db.session() as session:
        subscriber = find_by_email(session, "changed-mind@example.org")
    one_click = client.post(
        path_of(web_rt.links.unsubscribe(reader(subscriber))), data={"List-Unsubscribe": "One-Click"}
    )
    assert one_click.status_code == 200
    again = client.post(confirm_path, data={"csrf_token": csrf_from(page.text)})
    assert again.status_code == 409 and "unsubscribed" in again.text
    with web_rt.db.session() as session:
        assert find_by_email(session, "changed-mind@example.org").status == "unsubscribed"


def test_hsts_only_when_the_public_url_is_https(runtime):
    https = _app(runtime)  # BASE_URL https://paperboy.test
    assert https.test_client().get("/").headers["Strict-Transport-Security"].startswith("max-age=31536000")
    https.extensions["paperboy"].close()
    plain = _app(runtime, BASE_URL="http://localhost:5000")
    assert "Strict-Transport-Security" not in plain.test_client().get("/").headers
    plain.extensions["paperboy"].close()
