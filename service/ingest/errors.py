"""The errors of the ingest stage, split by what a caller should do about them.

``ParseError`` is permanent (the page is wrong: never retry it), except its subclass ``UpstreamError`` (the
source answered in a way that contradicts itself: fetch the page again later). ``FetchError`` says whether trying
again later may help (``transient``), which is what the Celery tasks decide retries on.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class of every error this package raises on purpose."""


class ParseError(IngestError):
    """A page cannot be read as any paper listing; the message names the line or field that was wrong."""

    transient = False

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None) -> None:
        self.line = line
        self.field = field
        where = f"line {line}: " if line is not None else (f"field {field}: " if field else "")
        super().__init__(f"{where}{message}")


class UpstreamError(ParseError):
    """The source's answer contradicts itself (e.g. results promised and none sent): a failure of the source, not
    of the page, known to pass. The page is stored as failed and ``retryable``; its origin is fetched again."""

    transient = True


class FetchError(IngestError):
    """A page could not be downloaded. ``transient``: a network failure, a timeout, 429 or 5xx."""

    def __init__(self, message: str, transient: bool = False) -> None:
        self.transient = transient
        super().__init__(message)
