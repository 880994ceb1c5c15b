"""Keeping link tokens out of logs: a token in a log line opens a reader's account for whoever reads the logs.

Every emailed link carries a signed token in its path (``/preferences/<token>``, ``/c/<token>/pdf``, ...). Access
logs (gunicorn's, the development server's) and application logs (a request path in an error) would write them out.
``redact`` replaces every token (by its shape: ``payload.issued.tag``) and every path segment that follows a
token-bearing route (a truncated or forged token is still not for the logs) with ``[token]``; ``RedactingFilter``
applies it to every record a handler emits, exception text included.
"""

from __future__ import annotations

import logging
import re

MASK = "[token]"
# Our compact tokens anywhere: base64url payload, base-36 issue time, 24-character tag.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{6,}\.[0-9a-z]{4,10}\.[A-Za-z0-9_-]{24}(?![A-Za-z0-9_-])")
# The routes whose next path segment is a token (see ``service.links`` and the web blueprints).
TOKEN_ROUTES = ("c", "feedback", "preferences", "unsubscribe", "confirm", "digest", "feed", "my-data")
_AFTER_ROUTE = re.compile(r"(/(?:%s)/)[^/\s?#\"'<>]+" % "|".join(re.escape(r) for r in TOKEN_ROUTES))  # noqa: UP031


def redact(text: str) -> str:
    """``text`` with every link token replaced by ``[token]``."""
    if not text or "/" not in text and "." not in text:
        return text
    return _AFTER_ROUTE.sub(lambda m: m.group(1) + MASK, _TOKEN.sub(MASK, text))


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (arguments applied) and exception text with ``redact``; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
