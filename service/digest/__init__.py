"""The daily email: planning deliveries, choosing and rendering each digest, and the delivery state machine.

Public entry points: ``send_due_digests`` (the CLI), ``render_delivery`` (the web view). Mail itself (addresses,
messages, backends, suppression) is ``service.mail``: the digest is one client of it.
"""


def send_due_digests(*args, **kwargs):  # noqa: ANN002, ANN003 - thin lazy re-export, see send.py
    from service.digest.send import send_due_digests as _send_due_digests

    return _send_due_digests(*args, **kwargs)


def render_delivery(*args, **kwargs):  # noqa: ANN002, ANN003 - thin lazy re-export, see build.py
    from service.digest.build import render_delivery as _render_delivery

    return _render_delivery(*args, **kwargs)


__all__ = ["render_delivery", "send_due_digests"]
