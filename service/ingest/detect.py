"""Which layout a page is in, from its first bytes: an arXiv listing feed (RSS, or Atom with ``oai:arXiv.org``
ids), an arXiv API Atom answer, API JSON, or a plain-text listing capture."""

from __future__ import annotations

from service.ingest.errors import ParseError
from service.ingest.normalise import bom_encoding


def detect_source(content: bytes) -> str:
    """``arxiv-listing``, ``arxiv-atom``, ``hf-api`` or ``seed-text``; ParseError for what is none of them."""
    if not content.strip():
        raise ParseError("empty page (no content)" if not content else "empty page (only whitespace)")
    head = content[:4096]
    if bom_encoding(head):
        head = _decoded_head(head)
    elif b"\x00" in head:
        raise ParseError(
            "binary content (NUL bytes): not a text, JSON or Atom page (UTF-16 text needs a byte-order mark)"
        )
    start = head.lstrip()
    if start.startswith(b"<"):
        lowered = head.lower()
        if b"<rss" in lowered:
            return "arxiv-listing"
        if b"<feed" in lowered or b"http://www.w3.org/2005/atom" in lowered:
            listing = b"oai:arxiv.org:" in lowered or b"rss.arxiv.org" in lowered or b"announce_type" in lowered
            return "arxiv-listing" if listing else "arxiv-atom"
        raise ParseError("XML or HTML that is not an Atom feed (nor an RSS feed): save listing pages as text")
    if start.startswith((b"[", b"{")):
        return "hf-api"
    return "seed-text"


def _decoded_head(head: bytes) -> bytes:
    """The start of a page with a byte-order mark, as UTF-8, so the checks above read it like any other."""
    encoding = bom_encoding(head)
    if encoding:
        return head.decode(encoding, errors="ignore").encode("utf-8")
    return head
