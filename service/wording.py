"""Words for people: "1 paper", "2 papers", long titles cut at a word. One place, so emails, pages and the command
agree."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and ``word`` agreeing in number: ``plural(1, "upvote")`` is "1 upvote", ``plural(1200, "entry",
    "entries")`` is "1,200 entries" (``many``: the plural when it is not ``word`` + "s")."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def ellipsize(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut after a whole word with "…" when it is longer."""
    if len(text) <= limit:
        return text
    cut = text[: max(1, limit - 1)]
    if " " in cut.strip():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-–—") + "…"
