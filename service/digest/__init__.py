"""The daily email: planning deliveries, building and rendering each digest, and the mail backends.

Public entry points: ``send_due_digests`` (the CLI and the beat), ``render_delivery`` (the web view),
``send_confirmation_email`` and ``send_preferences_email`` (the web forms).
"""

from service.digest.render import RenderedMessage
from service.digest.transactional import send_confirmation_email, send_preferences_email


def send_due_digests(*args, **kwargs):  # noqa: ANN002, ANN003 - thin lazy re-export, see send.py
    from service.digest.send import send_due_digests as _send_due_digests

    return _send_due_digests(*args, **kwargs)


def render_delivery(*args, **kwargs):  # noqa: ANN002, ANN003 - thin lazy re-export, see build.py
    from service.digest.build import render_delivery as _render_delivery

    return _render_delivery(*args, **kwargs)


__all__ = [
    "RenderedMessage",
    "render_delivery",
    "send_confirmation_email",
    "send_due_digests",
    "send_preferences_email",
]
