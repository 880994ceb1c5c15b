"""SendGrid's signed Event Webhook through the Flask app: verification, de-duplication, and what each event does."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from service.mail.suppression import is_suppressed
from service.models import Delivery, Subscriber, Suppression, WebhookEvent
from tests.digest.conftest import DAY, add_subscriber


@pytest.fixture
def keypair():
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, base64.b64encode(der).decode()


@pytest.fixture
def hook(runtime, keypair):
    """A Flask test client of an app that trusts ``keypair`` and a helper posting signed events."""
    from service import create_app

    private, public_b64 = keypair
    s = runtime.settings
    app = create_app(
        {
            "INSTANCE_DIR": s.INSTANCE_DIR,
            "DATABASE_URL": s.DATABASE_URL,
            "SECRET_KEY": s.SECRET_KEY,
            "BASE_URL": s.BASE_URL,
            "TESTING": True,
            "SENDGRID_WEBHOOK_PUBLIC_KEY": public_b64,
        }
    )
    client = app.test_client()

    def post(events, *, key=private, timestamp=None, body=None, headers=None):
        raw = body if body is not None else json.dumps(events).encode()
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = base64.b64encode(key.sign(ts.encode() + raw, ec.ECDSA(hashes.SHA256()))).decode()
        sent = {
            "X-Twilio-Email-Event-Webhook-Signature": signature,
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
            "Content-Type": "application/json",
        }
        if headers is not None:
            sent = headers
        return client.post("/webhooks/sendgrid", data=raw, headers=sent)

    yield post
    app.extensions["paperboy"].close()


def _event(kind: str, email: str = "reader@example.com", n: int = 1, **extra) -> dict:
    return {"event": kind, "email": email, "sg_event_id": f"{kind}-{email}-{n}", "timestamp": int(time.time()), **extra}


def test_bounce_and_spamreport_suppress_unsubscribe_unsubscribes(runtime, hook):
    with runtime.db.session() as session:
        for name in ("bounced", "spammy", "leaving", "grouped", "deferred"):
            add_subscriber(session, f"{name}@example.com")
    answer = hook(
        [
            _event("bounce", "bounced@example.com", reason="550 no such user", type="bounce"),
            _event("spamreport", "spammy@example.com"),
            _event("unsubscribe", "leaving@example.com"),
            _event("group_unsubscribe", "grouped@example.com"),
            _event("deferred", "deferred@example.com"),
        ]
    )
    assert answer.status_code == 200
    with runtime.db.session() as session:
        assert is_suppressed(session, "bounced@example.com") and is_suppressed(session, "spammy@example.com")
        status = dict(session.execute(select(Subscriber.email, Subscriber.status)).all())
        assert status["leaving@example.com"] == status["grouped@example.com"] == "unsubscribed"
        assert status["deferred@example.com"] == "confirmed" and not is_suppressed(session, "deferred@example.com")
        assert session.scalar(select(Suppression.detail).where(Suppression.email == "bounced@example.com")) == (
            "550 no such user"
        )


def test_duplicate_events_act_once(runtime, hook):
    with runtime.db.session() as session:
        add_subscriber(session, "reader@example.com")
    events = [_event("open"), _event("click", url="https://paperboy.test/c/x")]
    assert hook(events).status_code == 200
    second = hook(events + events)
    assert second.status_code == 200 and second.get_json()["duplicate"] == 4
    with runtime.db.session() as session:
        kinds = sorted(session.scalars(select(WebhookEvent.event)))
    assert kinds == ["click", "open"]  # opens and clicks recorded, once each


def test_dropped_records_the_reason_on_the_delivery(runtime, hook):
    with runtime.db.session() as session:
        sid = add_subscriber(session, "reader@example.com")
        delivery = Delivery(subscriber_id=sid, digest_date=DAY, status="sent")
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
    assert hook([_event("dropped", reason="Bounced Address", delivery_id=str(delivery_id))]).status_code == 200
    with runtime.db.session() as session:
        assert "Bounced Address" in session.get(Delivery, delivery_id).error


@pytest.mark.parametrize("case", ["unsigned", "tampered", "stale", "other-key", "garbage-signature"])
def test_unsigned_tampered_and_stale_posts_are_rejected(runtime, hook, keypair, case):
    with runtime.db.session() as session:
        add_subscriber(session, "reader@example.com")
    events = [_event("unsubscribe")]
    now = str(int(time.time()))
    if case == "unsigned":
        answer = hook(events, headers={"Content-Type": "application/json"})
    elif case == "tampered":
        raw = json.dumps(events).encode()
        signature = base64.b64encode(keypair[0].sign(now.encode() + raw, ec.ECDSA(hashes.SHA256()))).decode()
        answer = hook(
            None,
            body=raw.replace(b"reader@", b"victim@"),
            headers={
                "X-Twilio-Email-Event-Webhook-Signature": signature,
                "X-Twilio-Email-Event-Webhook-Timestamp": now,
            },
        )
    elif case == "stale":
        answer = hook(events, timestamp=int(time.time()) - 3600)
    elif case == "other-key":
        answer = hook(events, key=ec.generate_private_key(ec.SECP256R1()))
    else:
        answer = hook(
            events,
            headers={
                "X-Twilio-Email-Event-Webhook-Signature": "bm90IGEgc2ln",
                "X-Twilio-Email-Event-Webhook-Timestamp": now,
            },
        )
    assert answer.status_code == 401
    with runtime.db.session() as session:
        assert session.scalar(select(Subscriber.status)) == "confirmed"
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 0


def test_processed_event_settles_a_delivery_whose_send_outcome_was_unknown(runtime, hook):
    with runtime.db.session() as session:
        sid = add_subscriber(session, "reader@example.com")
        delivery = Delivery(
            subscriber_id=sid,
            digest_date=DAY,
            status="failed",
            attempts=1,
            message_id="<m@x>",
            error="outcome unknown: the worker stopped after submitting; not re-sent",
        )
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
    hook([_event("processed", delivery_id=str(delivery_id), sg_message_id="abc.filter")])
    with runtime.db.session() as session:
        row = session.get(Delivery, delivery_id)
        assert (row.status, row.provider_message_id) == ("sent", "abc.filter")


def test_a_message_sendgrid_took_without_answering_is_settled_by_its_processed_event(runtime, hook, sink):
    """The request went out and the connection closed before the answer: never sent again, failed "outcome
    unknown", and SendGrid's own event (carrying our delivery id) then proves it went."""
    from service.digest import send_due_digests
    from tests.digest.conftest import add_papers, sendgrid_runtime

    rt = sendgrid_runtime(runtime, sink)
    with rt.db.session() as session:
        add_papers(session, 3)
        add_subscriber(session, "reader@example.com")
    sink.drop_answer_next()
    report = send_due_digests(rt, DAY)
    [accepted] = sink.received
    assert (report["sent"], report["failed"]) == (0, 1)
    assert report["errors"][0]["error"].startswith("outcome unknown: no answer from SendGrid")
    assert send_due_digests(rt, DAY)["sent"] == 0 and len(sink.received) == 1  # never sent twice
    delivery_id = accepted["custom_args"]["delivery_id"]
    hook([_event("processed", delivery_id=delivery_id, sg_message_id=f"{accepted['message_id']}.filter")])
    with runtime.db.session() as session:
        row = session.get(Delivery, int(delivery_id))
        assert (row.status, row.provider_message_id) == ("sent", f"{accepted['message_id']}.filter")
    rt.close()


@pytest.mark.parametrize("depth", [50, 100_000])
def test_a_validly_signed_but_deeply_nested_body_is_refused_with_400(hook, depth):
    nested = "[" * depth + "]" * depth
    body = f'[{{"sg_event_id": "deep", "event": "open", "x": {nested}}}]'.encode()
    answer = hook(None, body=body)
    assert answer.status_code == 400 and "nested" in answer.get_json()["error"]
