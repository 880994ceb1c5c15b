"""Landing page, subscribing with double opt-in, rate limits and the non-revealing answer."""

from __future__ import annotations

import pytest

from service.mail.suppression import suppress
from service.models import Subscriber
from service.subscribers.lifecycle import find_by_email
from service.tokens import make_token
from tests.web.support import add_paper, add_subscriber, csrf_from, links_in, outbox_messages


def subscribe(client, email_address, topics=""):
    token = csrf_from(client.get("/").text)
    return client.post("/subscribe", data={"csrf_token": token, "email": email_address, "topics": topics})


def test_landing_page_shows_the_most_upvoted_trending_papers_and_the_form(client, web_rt):
    add_paper(web_rt, "Quiet paper", upvotes=1)
    add_paper(web_rt, "Loud paper <b>bold</b>", upvotes=99)
    page = client.get("/")
    assert page.status_code == 200
    assert 'name="email"' in page.text and 'name="topics"' in page.text
    assert page.text.index("Loud paper") < page.text.index("Quiet paper")
    assert "&lt;b&gt;bold&lt;/b&gt;" in page.text and "<b>bold</b>" not in page.text


def test_trending_page_lists_todays_papers(client, web_rt):
    add_paper(web_rt, "Older paper", upvotes=500, listing_date=__import__("datetime").date(2025, 5, 1))
    add_paper(web_rt, "Today's paper", upvotes=3)
    page = client.get("/trending")
    assert page.status_code == 200 and "Today&#39;s paper" in page.text and "Older paper" not in page.text


def test_subscribe_confirm_flow(client, web_rt):
    answer = subscribe(client, "Reader@Example.com", "robots, speech")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    [message] = outbox_messages(web_rt)
    [confirm_path] = links_in(message, "/confirm/")
    with web_rt.db.session() as session:
        assert find_by_email(session, "reader@example.com").status == "unconfirmed"

    page = client.get(confirm_path)  # a scanner's GET: shows a button, confirms nothing
    assert page.status_code == 200 and "Confirm your subscription" in page.text
    with web_rt.db.session() as session:
        assert find_by_email(session, "reader@example.com").status == "unconfirmed"

    done = client.post(confirm_path, data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 200 and "You're subscribed" in done.text
    with web_rt.db.session() as session:
        subscriber = find_by_email(session, "reader@example.com")
        assert subscriber.status == "confirmed" and subscriber.topics == ["robots", "speech"]
    assert client.get(done.text.split('class="button" href="')[1].split('"')[0]).status_code == 200


def test_confirm_post_needs_the_csrf_token(client, web_rt):
    subscribe(client, "reader@example.com")
    [confirm_path] = links_in(outbox_messages(web_rt)[0], "/confirm/")
    refused = client.post(confirm_path, data={})
    assert refused.status_code == 400 and "Reload the page" in refused.text
    with web_rt.db.session() as session:
        assert find_by_email(session, "reader@example.com").status == "unconfirmed"


def test_the_answer_never_reveals_whether_an_address_is_subscribed(client, web_rt):
    add_subscriber(web_rt, "known@example.com")
    with web_rt.db.session() as session:
        suppress(session, "bounced@example.com", "bounce")
    bodies = {addr: subscribe(client, addr) for addr in ("new@example.com", "known@example.com", "bounced@example.com")}
    assert {r.status_code for r in bodies.values()} == {200}
    assert len({r.text for r in bodies.values()}) == 1
    # the confirmed address got its preferences link, the new one a confirmation, the suppressed one nothing
    sent = {m["To"]: m for m in outbox_messages(web_rt)}
    assert set(sent) == {"new@example.com", "known@example.com"}
    assert links_in(sent["known@example.com"], "/preferences/") and links_in(sent["new@example.com"], "/confirm/")
    with web_rt.db.session() as session:
        assert find_by_email(session, "known@example.com").status == "confirmed"


def test_nothing_typed_reaches_the_confirmation_email(client, web_rt):
    subscribe(client, "reader@example.com", "Click http://evil.example/win <script>")
    [message] = outbox_messages(web_rt)
    raw = message.as_string()
    assert "evil.example" not in raw and "<script>" not in raw


@pytest.mark.parametrize("address", ["", "not-an-address", "a@b", "x" * 400 + "@example.com"])
def test_an_invalid_address_is_refused_with_a_clear_message(client, web_rt, address):
    answer = subscribe(client, address, "robots")
    assert answer.status_code == 400
    assert "That email address is not valid" in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert outbox_messages(web_rt) == []


def test_a_header_injection_attempt_is_refused(client, web_rt):
    answer = subscribe(client, "a@example.com\r\nBcc: victim@example.com")
    assert answer.status_code == 400 and "line breaks" in answer.text
    assert outbox_messages(web_rt) == []


def test_too_many_topics_are_refused_and_the_form_keeps_what_was_typed(client, web_rt):
    answer = subscribe(client, "reader@example.com", ", ".join(f"topic {i}" for i in range(40)))
    assert answer.status_code == 400 and "at most 30 topics" in answer.text
    assert 'value="reader@example.com"' in answer.text
    with web_rt.db.session() as session:
        assert find_by_email(session, "reader@example.com") is None


def test_subscribe_without_csrf_token_is_refused(client, web_rt):
    answer = client.post("/subscribe", data={"email": "reader@example.com"})
    assert answer.status_code == 400
    assert outbox_messages(web_rt) == []


def test_rate_limit_per_address(client, web_rt):
    answers = [subscribe(client, "Same@example.com" if i % 2 else "same@example.com") for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "Too many requests" in answers[-1].text
    assert len(outbox_messages(web_rt)) == 3


def test_rate_limit_per_ip(client, web_rt):
    codes = [subscribe(client, f"reader{i}@example.com").status_code for i in range(11)]
    assert codes == [200] * 10 + [429]
    other_ip = client.post(
        "/subscribe",
        data={"csrf_token": csrf_from(client.get("/").text), "email": "late@example.com"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert other_ip.status_code == 200


def test_confirm_links_are_purpose_bound_and_versioned(client, web_rt):
    subscribe(client, "reader@example.com")
    [confirm_path] = links_in(outbox_messages(web_rt)[0], "/confirm/")
    token = confirm_path.rsplit("/", 1)[1]
    assert client.get(f"/unsubscribe/{token}").status_code == 404  # a confirm token cannot unsubscribe
    assert client.get(f"/preferences/{token}").status_code == 404
    with web_rt.db.session() as session:
        find_by_email(session, "reader@example.com").token_version += 1
    revoked = client.get(confirm_path)
    assert revoked.status_code == 410 and "replaced by a newer one" in revoked.text


def test_an_expired_confirm_link_says_how_to_get_a_new_one(client, web_rt, monkeypatch):
    from service import tokens

    with web_rt.db.session() as session:
        subscriber = Subscriber(email="late@example.com")
        session.add(subscriber)
        session.flush()
        sid = subscriber.id
    token = make_token(web_rt.settings.SECRET_KEY, "confirm", {"s": sid, "v": 1})
    monkeypatch.setitem(tokens.MAX_AGE, "confirm", -1)
    page = client.get(f"/confirm/{token}")
    assert page.status_code == 410 and "Subscribe again" in page.text


def test_unsubscribed_reader_can_subscribe_again_from_the_landing_page(client, web_rt):
    subscriber = add_subscriber(web_rt, "back@example.com")
    with web_rt.db.session() as session:
        session.get(Subscriber, subscriber.id).status = "unsubscribed"
    subscribe(client, "back@example.com")
    [confirm_path] = links_in(outbox_messages(web_rt)[0], "/confirm/")
    page = client.get(confirm_path)
    client.post(confirm_path, data={"csrf_token": csrf_from(page.text)})
    with web_rt.db.session() as session:
        assert session.get(Subscriber, subscriber.id).status == "confirmed"


@pytest.mark.redis
def test_rate_limits_are_kept_in_redis_when_configured(runtime, redis_url):
    """With REDIS_URL set the counters live in Redis, so every gunicorn worker shares them."""
    import uuid

    import redis

    from service import create_app

    settings = runtime.settings
    app = create_app(
        {
            "INSTANCE_DIR": settings.INSTANCE_DIR,
            "DATABASE_URL": settings.DATABASE_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "BASE_URL": settings.BASE_URL,
            "REDIS_URL": redis_url,
            "TESTING": True,
        }
    )
    address = f"redis-{uuid.uuid4().hex[:10]}@example.com"  # fresh counters on every run
    client = app.test_client()
    ip = {"REMOTE_ADDR": f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"}
    codes = []
    for _ in range(4):
        token = csrf_from(client.get("/", environ_base=ip).text)
        codes.append(
            client.post("/subscribe", data={"csrf_token": token, "email": address}, environ_base=ip).status_code
        )
    assert codes == [200, 200, 200, 429]
    keys = redis.Redis.from_url(redis_url).keys(f"*{address}*")
    assert keys, "the per-address counter should be stored in Redis"
    app.extensions["paperboy"].close()


def test_a_used_confirmation_link_says_already_confirmed_and_leads_to_preferences(client, web_rt):
    subscribe(client, "reader@example.com")
    [confirm_path] = links_in(outbox_messages(web_rt)[0], "/confirm/")
    client.post(confirm_path, data={"csrf_token": csrf_from(client.get(confirm_path).text)})
    again = client.get(confirm_path)
    assert again.status_code == 200 and "Already confirmed" in again.text
    assert "<form" not in again.text and "Yes, send me Paperboy" not in again.text
    preferences = again.text.split('class="button" href="')[1].split('"')[0]
    assert preferences.startswith("/preferences/") and client.get(preferences).status_code == 200
