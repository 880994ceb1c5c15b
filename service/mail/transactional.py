"""One message, now: render ``templates/email/<message>/`` and hand it to the configured backend.

For messages to one person that are not digests (the subscription confirmation, the preferences link): no batch,
no claims. The caller decides who gets what (``service.subscribers.emails``); this only renders and sends.
"""

from __future__ import annotations

from typing import Any

from service.config import Settings
from service.mail.backends import get_backend
from service.mail.message import outgoing
from service.mail.render import templates


def send_message(settings: Settings, message: str, to: str, context: dict[str, Any]) -> str | None:
    """Render ``message`` with ``context`` and send it to ``to``: the provider's message id. Raises ``BadAddress``
    for an address no message can carry and ``SendError`` when the provider does not accept it."""
    rendered = templates().render(message, {**context, "postal_address": settings.POSTAL_ADDRESS})
    backend = get_backend(settings)
    try:
        result = backend.send(backend.prepare(outgoing(rendered, to=to, from_=settings.MAIL_FROM, category=message)))
    finally:
        backend.close()
    return result.provider_message_id
