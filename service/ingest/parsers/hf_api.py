"""Responses of the Hugging Face daily papers API (``GET /api/daily_papers?date=YYYY-MM-DD``), every schema year.

Fields were added over the years (githubRepo, ai_keywords, organization, …), so each is optional except the
arXiv id and the title. The listing day is the date the request asked for (``?date=``, or the file's name), else
each item's ``submittedOnDailyAt``; never ``publishedAt``, which is the arXiv publication. Some archived days
hold a JSON list of Python ``repr()`` strings instead of objects: those are read with ``ast.literal_eval``
(literals only, never code).
"""

from __future__ import annotations

import ast
import datetime as dt
import json
from collections import Counter
from typing import Any

from service.ingest.entries import Entry, ParsedPage
from service.ingest.errors import ParseError
from service.ingest.normalise import (
    as_int,
    clean_text,
    date_in_origin,
    decode_text,
    normalise_arxiv_id,
    parse_iso_date,
)

SOURCE = "hf-api"
MAX_REPR_CHARS = 2_000_000  # one repr() item; literal_eval of deeply nested input is refused below


def parse(content: bytes, origin: str, today: dt.date) -> ParsedPage:
    """Parse one day's API response: a JSON list of items (or ``{"papers": [...]}`` / a single item)."""
    text = decode_text(content)
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise ParseError("JSON nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise ParseError(f"not valid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from exc
    items = _items_of(data)
    origin_day = date_in_origin(origin)
    entries: list[Entry] = []
    problems: list[str] = []
    days: Counter[dt.date] = Counter()
    for index, raw in enumerate(items):
        where = f"item {index}"
        try:
            item = _as_mapping(raw, where)
            entry, listed_on = _entry(item, where)
        except ParseError as exc:
            problems.append(f"{where}: {exc} (skipped)")
            continue
        entry.listed_on = origin_day or listed_on
        entries.append(entry)
        if listed_on:
            days[listed_on] += 1
    if items and not entries:
        raise ParseError(f"none of the {len(items)} items is a paper ({problems[0]})")
    listing_date = origin_day or (days.most_common(1)[0][0] if days else None)
    return ParsedPage(source=SOURCE, entries=entries, listing_date=listing_date, problems=problems)


def _items_of(data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in ("papers", "dailyPapers", "items"):
            if isinstance(data.get(key), list):
                return data[key]
        if "paper" in data or "id" in data:
            return [data]
        if "error" in data:
            raise ParseError(f"the API answered with an error: {clean_text(data['error'])[:200]}", field="error")
    raise ParseError(f"expected a JSON list of daily papers, found {type(data).__name__}")


def _as_mapping(raw: Any, where: str) -> dict[str, Any]:
    """An item is an object, or the ``repr()`` of a dict as some archived days stored it."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        if len(raw) > MAX_REPR_CHARS:
            raise ParseError(f"repr() string of {len(raw)} characters is too long to read safely")
        try:
            value = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            raise ParseError(f"string is not a Python literal of a paper ({exc.__class__.__name__})") from exc
        if isinstance(value, dict):
            return value
        raise ParseError(f"string holds a {type(value).__name__}, not a paper object")
    raise ParseError(f"expected an object, found {type(raw).__name__}")


def _entry(item: dict[str, Any], where: str) -> tuple[Entry, dt.date | None]:
    paper = item.get("paper") if isinstance(item.get("paper"), dict) else item
    arxiv_id = normalise_arxiv_id(paper.get("id"))
    title = clean_text(_text(paper.get("title")) or _text(item.get("title")))
    if not title:
        raise ParseError("no title", field="paper.title")
    if paper.get("id") is not None and arxiv_id is None:
        raise ParseError(f"{str(paper.get('id'))[:40]!r} is not an arXiv id", field="paper.id")
    abstract = clean_text(_text(paper.get("summary")) or _text(item.get("summary")))
    authors = [clean_text(a.get("name")) for a in _list(paper.get("authors")) if isinstance(a, dict) and a.get("name")]
    authors = [a for a in authors if a]
    organization = paper.get("organization") or item.get("organization")
    if isinstance(organization, dict):
        organization = organization.get("fullname") or organization.get("name")
    keywords = [clean_text(k) for k in _list(paper.get("ai_keywords")) if isinstance(k, str) and clean_text(k)]
    entry = Entry(
        title=title,
        abstract=abstract,
        where=where,
        arxiv_id=arxiv_id,
        authors=authors,
        published_on=parse_iso_date(paper.get("publishedAt")),
        upvotes=as_int(paper.get("upvotes")),
        num_comments=as_int(item.get("numComments")),
        github_repo=_url(paper.get("githubRepo")),
        github_stars=as_int(paper.get("githubStars")),
        project_page=_url(paper.get("projectPage")),
        ai_summary=clean_text(_text(paper.get("ai_summary"))) or None,
        ai_keywords=keywords,
        organization=clean_text(_text(organization)) or None,
        thumbnail=_url(item.get("thumbnail") or item.get("mediaUrl")),
    )
    listed_on = parse_iso_date(paper.get("submittedOnDailyAt"))
    return entry, listed_on


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _url(value: Any) -> str | None:
    if isinstance(value, str) and value.strip().lower().startswith(("https://", "http://")):
        return clean_text(value)[:2000]
    return None
