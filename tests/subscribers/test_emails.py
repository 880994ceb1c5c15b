"""The emails a reader asks for: what they carry (our signed links, nothing typed) and who never gets them."""

from __future__ import annotations

import email
import email.policy

from service.subscribers.emails import send_now
from service.tokens import read_token
from tests.digest.conftest import add_subscriber


def test_confirmation_email_carries_a_working_confirm_link_and_nothing_typed(runtime):
    with runtime.db.session() as session:
        sid = add_subscriber(session, "new@example.com", status="unconfirmed", topics=["<img src=x> buy pills"])
    send_now(runtime, "confirmation", sid)
    send_now(runtime, "preferences", sid)
    files = sorted(runtime.settings.OUTBOX_DIR.glob("*.eml"))
    assert [f.name.split("-")[0] for f in files] == ["confirm", "preferences"]
    confirm = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert confirm["To"] == "new@example.com"
    assert confirm["Subject"] == "Confirm your Paperboy subscription"
    body = confirm.get_body(("plain",)).get_content()
    url = next(word for word in body.split() if word.startswith("https://paperboy.test/confirm/"))
    assert read_token(runtime.settings.SECRET_KEY, "confirm", url.rsplit("/", 1)[-1])["s"] == sid
    raw = files[0].read_text() + files[1].read_text()
    assert "pills" not in raw and "img src" not in raw
    prefs = email.message_from_bytes(files[1].read_bytes(), policy=email.policy.default)
    assert "https://paperboy.test/preferences/" in prefs.get_body(("plain",)).get_content()


def test_suppressed_address_gets_no_confirmation(runtime):
    from service.mail.suppression import suppress

    with runtime.db.session() as session:
        sid = add_subscriber(session, "bounced@example.com", status="unconfirmed")
        suppress(session, "bounced@example.com", "bounce")
    send_now(runtime, "confirmation", sid)
    assert not list(runtime.settings.OUTBOX_DIR.glob("*.eml")) if runtime.settings.OUTBOX_DIR.exists() else True
