"""The SendGrid backend against the local v3 sink: 202, retries on 429/500, permanent 4xx, reused connections."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.digest import send_due_digests
from service.mail.backends import PermanentSendError, SendResult, TransientSendError
from service.mail.backends.sendgrid import SendGridBackend
from service.mail.message import OutgoingMessage
from service.models import Delivery
from tests.digest.conftest import DAY, add_papers, add_subscriber, send_counts, sendgrid_runtime


def _message(i: int = 1) -> OutgoingMessage:
    return OutgoingMessage(
        to=f"reader{i}@example.com",
        from_="Paperboy <digest@paperboy.test>",
        subject=f"Digest {i}",
        text="plain body",
        html="<p>html body</p>",
        message_id=f"<d{i}@paperboy.test>",
        headers={
            "List-Unsubscribe": "<https://paperboy.test/unsubscribe/x>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        delivery_id=i,
    )


def _backend(sink, **kw) -> SendGridBackend:
    return SendGridBackend("SG.test-key", sink.url, backoff_s=0.01, **kw)


def test_accepted_message_carries_delivery_id_and_headers(sink):
    backend = _backend(sink)
    result = backend.send(_message(7))
    assert isinstance(result, SendResult) and result.provider_message_id.startswith("sink")
    (got,) = sink.received
    assert got["custom_args"]["delivery_id"] == "7"
    assert got["headers"]["Authorization"] == "Bearer SG.test-key"
    body = got["body"]
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body["headers"]["Message-ID"] == "<d7@paperboy.test>"
    assert body["from"] == {"email": "digest@paperboy.test", "name": "Paperboy"}
    assert body["tracking_settings"]["click_tracking"]["enable"] is False


def test_429_and_500_are_retried_then_accepted(sink):
    sink.fail_next(429, times=1)
    sink.fail_next(500, times=1)
    assert isinstance(_backend(sink).send(_message()), SendResult)
    assert sink.requests == 3 and len(sink.received) == 1


def test_persistent_500_is_transient_after_the_attempts(sink):
    sink.fail_recipient("reader1@example.com", 500)
    with pytest.raises(TransientSendError) as info:
        _backend(sink, max_attempts=3).send(_message())
    assert info.value.status == 500 and sink.requests == 3 and not sink.received


def test_4xx_is_permanent_and_not_retried(sink):
    sink.fail_recipient("reader1@example.com", 400)
    with pytest.raises(PermanentSendError) as info:
        _backend(sink).send(_message())
    assert info.value.status == 400 and sink.requests == 1


def test_wrong_api_key_is_a_permanent_failure(sink):
    with pytest.raises(PermanentSendError) as info:
        SendGridBackend("SG.wrong", sink.url, backoff_s=0.01).send(_message())
    assert info.value.status == 401


def test_many_messages_in_flight_over_reused_connections(sink):
    backend = _backend(sink, concurrency=4)
    results = backend.send_many([_message(i) for i in range(40)])
    backend.close()
    assert all(isinstance(r, SendResult) for r in results)
    assert sorted(int(r["custom_args"]["delivery_id"]) for r in sink.received) == list(range(40))
    assert sink.connections <= 4  # one kept-alive connection per sending thread, not one per message


def test_send_due_digests_through_sendgrid_records_failures_and_retries_later(runtime, sink):
    rt = sendgrid_runtime(runtime, sink)
    with rt.db.session() as session:
        add_papers(session, 4)
        for i in range(4):
            add_subscriber(session, f"reader{i}@example.com")
    sink.fail_recipient("reader1@example.com", 400)  # e.g. an address SendGrid refuses
    sink.fail_recipient("reader2@example.com", 503)  # SendGrid having a bad moment
    sink.fail_next(429, times=2)  # rate limited at first, then accepted
    report = send_due_digests(rt, DAY)
    assert send_counts(report) == {"planned": 4, "sent": 2, "skipped": 0, "failed": 2}
    with rt.db.session() as session:
        rows = {d.subscriber_id: d for d in session.scalars(select(Delivery))}
    statuses = sorted((d.status, bool(d.error)) for d in rows.values())
    assert statuses == [("failed", True), ("planned", True), ("sent", False), ("sent", False)]
    assert all(d.provider_message_id for d in rows.values() if d.status == "sent")
    sink.state.per_recipient.clear()  # SendGrid recovers: the next run sends only the one left planned
    again = send_due_digests(rt, DAY)
    assert send_counts(again) == {"planned": 0, "sent": 1, "skipped": 0, "failed": 0}
    assert sorted(r["to"] for r in sink.received) == [f"reader{i}@example.com" for i in (0, 2, 3)]
    rt.close()


@pytest.mark.parametrize("html", ["<p>html “body” \\ \U0001f680</p>", None])
def test_the_body_built_from_rendered_json_literals_is_json_dumps_of_the_v3_body(html):
    import dataclasses
    import json

    from service.mail.backends.sendgrid import encode_v3, v3_body

    text = 'plain "body"\n\twith ünïcode'
    literals = ((text, json.dumps(text)),) + (((html, json.dumps(html)),) if html else ())
    message = dataclasses.replace(_message(3), text=text, html=html, json_literals=literals)
    assert encode_v3(message) == json.dumps(v3_body(message)).encode()
    assert encode_v3(dataclasses.replace(message, json_literals=())) == encode_v3(message)
    # a literal is used only for the very string it was made for: a changed body is encoded afresh
    changed = dataclasses.replace(message, text="another text")
    assert json.loads(encode_v3(changed))["content"][0]["value"] == "another text"
    assert encode_v3(changed) == json.dumps(v3_body(changed)).encode()
