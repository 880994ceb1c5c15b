"""One parser per source layout. Each takes the page's bytes and returns a ``ParsedPage`` or raises ``ParseError``
(and nothing else, whatever the bytes: the property tests hold them to it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from service.ingest.entries import ParsedPage
from service.ingest.parsers import arxiv_atom, arxiv_listing, hf_api, seed_text

Parser = Callable[[bytes, str, dt.date], ParsedPage]

PARSERS: dict[str, Parser] = {
    "seed-text": seed_text.parse,
    "hf-api": hf_api.parse,
    "arxiv-atom": arxiv_atom.parse,
    "arxiv-listing": arxiv_listing.parse,
}

__all__ = ["PARSERS", "Parser"]
