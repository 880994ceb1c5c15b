"""Counting words for people: "1 paper", "2 papers". One place, so emails, pages and the command agree."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and ``word`` agreeing in number: ``plural(1, "upvote")`` is "1 upvote", ``plural(1200, "entry",
    "entries")`` is "1,200 entries" (``many``: the plural when it is not ``word`` + "s")."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
