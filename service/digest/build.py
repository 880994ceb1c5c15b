"""Building one digest: the picks (ranked by ``service.recommend.rank_digest``) and the rendered message.

Picks are stored on the delivery (``Delivery.picks``) before sending, so the web view, the click links and the
``sent`` interactions all describe exactly what the email showed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.digest.assemble import DigestAssembler
from service.digest.candidates import candidates_for
from service.mail.addresses import display_address
from service.mail.render import RenderedMessage, clean_text, templates
from service.models import Delivery, ModelVersion, Paper, Subscriber
from service.paper_urls import abs_url, code_url, paper_path, pdf_url, project_url, safe_url
from service.runtime import Runtime
from service.wording import ellipsize, plural

SUMMARY_CHARS = 320
SUBJECT_CHARS = 80  # what a phone's inbox list shows, roughly; longer subjects are cut there anyway
TRENDING = "trending"
# The linked resources of a paper besides its abstract page, in the order a card lists them.
RESOURCE_LINKS = {"pdf": pdf_url, "code": code_url, "project": project_url}
# A reason that only repeats the upvotes the card already shows ("trending: 12 upvotes").
_UPVOTES_REASON = re.compile(r"^trending: [0-9.,]+k? upvotes?$")


# --- ranking ------------------------------------------------------------------------------------------------


def rank_for(
    rt: Runtime, session: Session, subscribers: Sequence[Subscriber], digest_date: dt.date
) -> dict[int, list[dict[str, Any]]]:
    """subscriber id → picks as stored on the delivery: paper_id, score, reason, section, position.

    Subscribers with the same candidate set (the usual case) are ranked together in one call.
    """
    from service.recommend import rank_digest

    candidates = candidates_for(session, subscribers, digest_date)
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for subscriber in subscribers:
        if candidates.get(subscriber.id):
            groups[tuple(candidates[subscriber.id])].append(subscriber.id)
    picks: dict[int, list[dict[str, Any]]] = {s.id: [] for s in subscribers}
    for paper_ids, subscriber_ids in groups.items():
        ranked = rank_digest(rt, session, subscriber_ids, list(paper_ids), digest_date)
        allowed = set(paper_ids)
        for subscriber_id in subscriber_ids:
            rows: list[dict[str, Any]] = []
            seen: set[int] = set()
            ordered = sorted(ranked.get(subscriber_id, []), key=lambda p: p.section == TRENDING)  # stable
            for pick in ordered:
                if pick.paper_id in allowed and pick.paper_id not in seen:
                    seen.add(pick.paper_id)
                    rows.append(
                        {
                            "paper_id": int(pick.paper_id),
                            "score": float(pick.score),
                            "reason": clean_text(pick.reason)[:300],
                            "section": str(pick.section),
                            "position": len(rows) + 1,
                        }
                    )
            picks[subscriber_id] = rows
    return picks


def current_model_version_id(session: Session) -> int | None:
    return session.scalar(
        select(ModelVersion.id).where(ModelVersion.status == "ready").order_by(ModelVersion.id.desc()).limit(1)
    )


# --- rendering ----------------------------------------------------------------------------------------------


def authors_line(paper: Paper, limit: int = 3) -> str:
    names = [a.get("name", "") if isinstance(a, dict) else str(a) for a in paper.authors or []]
    names = [clean_text(n).strip() for n in names if n and str(n).strip()]
    total = max(len(names), paper.author_count or 0)
    if not names:
        return plural(total, "author") if total else ""
    shown = ", ".join(names[:limit])
    return f"{shown} et al. ({plural(total, 'author')})" if total > limit else shown


def short_summary(paper: Paper, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(clean_text(paper.ai_summary or paper.abstract or "").split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:.") + "…"


def date_label(day: dt.date) -> str:
    """``Tuesday, 3 June 2025``: the date under the email's header."""
    return f"{day.strftime('%A')}, {day.day} {day.strftime('%B %Y')}"


def short_date(day: dt.date) -> str:
    """``Tue 3 Jun``: the date in the subject."""
    return f"{day.strftime('%a')} {day.day} {day.strftime('%b')}"


def subject_title(title: str, day: str, paper_count: int) -> str:
    """The first paper's title, shortened so that ``subject.txt`` ("Paperboy · <day>: <title> and N more") stays
    within ``SUBJECT_CHARS``."""
    fixed = len(f"Paperboy · {day}: ") + (len(f" and {paper_count - 1} more") if paper_count > 1 else 0)
    return ellipsize(title, max(20, SUBJECT_CHARS - fixed))


def shown_reason(reason: str, upvotes: int) -> str:
    """The reason as the card shows it: "trending: 12 upvotes" says again what the card's upvotes say."""
    if upvotes and reason.startswith("trending: ") and _UPVOTES_REASON.match(reason):
        return "trending today"
    return reason


def digest_headers(
    rt: Runtime, delivery: Delivery, subscriber: Subscriber, unsubscribe_url: str | None = None
) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe, plus our delivery id for support and logs."""
    unsubscribe_url = unsubscribe_url or rt.links.unsubscribe(subscriber)
    return {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": f"Paperboy daily digest <digest.{_domain(rt.settings.MAIL_FROM)}>",
        "X-Paperboy-Delivery": str(delivery.id),
    }


def _domain(mail_from: str) -> str:
    return mail_from.rsplit("@", 1)[-1].strip(" >") or "paperboy.localhost"


def paper_view(paper: Paper, root: str) -> tuple[dict[str, Any], dict[str, str]]:
    """What every digest shows of a paper, whoever it is for, and its direct links (for readers who turned
    tracking off): computed once per batch, not once per email.

    ``root``: the site's URL (``BASE_URL`` without its slash), for the paper's own page, which is also where a
    paper with no abstract page elsewhere links."""
    upvotes = paper.upvotes or 0
    page = root + paper_path(paper)
    direct = {"url": abs_url(paper) or page, **{f"{n}_url": (f(paper) or "") for n, f in RESOURCE_LINKS.items()}}
    shown = {
        "title": " ".join(clean_text(paper.title).split()),
        "authors": authors_line(paper),
        "summary": short_summary(paper),
        "upvotes": upvotes,
        "upvotes_label": plural(upvotes, "upvote"),
        "arxiv_id": clean_text(paper.arxiv_id or ""),
        "thumbnail": safe_url(paper.thumbnail) or "",
        "page_url": page,
        "page_path": paper_path(paper),
        **{f"has_{name}": bool(direct[f"{name}_url"]) for name in RESOURCE_LINKS},
    }
    return shown, direct


def digest_context(
    rt: Runtime,
    delivery: Delivery,
    subscriber: Subscriber,
    papers: dict[int, Paper],
    views: dict[int, tuple[dict[str, Any], dict[str, str]]] | None = None,
) -> dict[str, Any]:
    """The template context of one digest; ``views`` caches ``paper_view`` across the digests of a batch.

    Each paper's links are tracked (``/c/<token>[/<resource>]``, one signed token per paper) when the reader
    allows tracking, direct otherwise; "more"/"less like this" always go through our confirm page."""
    views = {} if views is None else views
    links, delivery_id, tracked, key = rt.links, delivery.id, subscriber.tracking_enabled, subscriber.link_key
    picks, trending = [], []
    shown = [(i, pick, papers.get(int(pick["paper_id"]))) for i, pick in enumerate(delivery.picks or [])]
    shown = [(i, pick, paper) for i, pick, paper in shown if paper is not None]  # deleted since: the rest renders
    # numbered in the order the email shows them: the picks, then trending
    shown.sort(key=lambda row: row[1].get("section") == TRENDING)
    for number, (i, pick, paper) in enumerate(shown, start=1):
        paper_id = paper.id
        cached = views.get(paper_id)
        if cached is None:
            cached = views[paper_id] = paper_view(paper, links.root)
        shared, direct = cached
        position = int(pick.get("position", i + 1))
        pick_links = links.pick(delivery_id, paper_id, position, key)
        view = dict(shared)
        view["number"] = number
        view["position"] = position
        view["reason"] = shown_reason(pick.get("reason") or "", shared["upvotes"])
        view["has_reason"] = bool(view["reason"])  # what the card tests: the reason itself is a reader's value
        if tracked:
            view["url"] = pick_links.url
            for name in RESOURCE_LINKS:
                view[f"{name}_url"] = pick_links.resource(name) if shared[f"has_{name}"] else ""
        else:
            view.update(direct)
        view["more_url"] = pick_links.feedback("more")
        view["less_url"] = pick_links.feedback("less")
        (trending if pick.get("section") == TRENDING else picks).append(view)
    first = (picks or trending or [{}])[0]
    count = len(picks) + len(trending)
    day = short_date(delivery.digest_date)
    return {
        "email": display_address(subscriber.email),
        "digest_date": delivery.digest_date.isoformat(),
        "date_label": date_label(delivery.digest_date),
        "subject_date": day,
        "subject_title": subject_title(first.get("title", ""), day, count),
        "picks": picks,
        "trending": trending,
        "top_title": first.get("title", ""),
        "paper_count": count,
        "preheader": " · ".join(p["title"] for p in (picks + trending)[:3]),
        "web_view_url": rt.links.digest(delivery.id, key),
        "preferences_url": rt.links.preferences(subscriber),
        "unsubscribe_url": rt.links.unsubscribe(subscriber),
        "postal_address": rt.settings.POSTAL_ADDRESS,
    }


def render_loaded(
    rt: Runtime,
    delivery: Delivery,
    subscriber: Subscriber,
    papers: dict[int, Paper],
    *,
    html: bool = True,
    views: dict[int, tuple[dict[str, Any], dict[str, str]]] | None = None,
    assembler: DigestAssembler | None = None,
) -> RenderedMessage:
    """The digest of ``delivery``; a batch passes its ``assembler`` (same bytes, a fraction of the cost)."""
    context = digest_context(rt, delivery, subscriber, papers, views)
    headers = digest_headers(rt, delivery, subscriber, context["unsubscribe_url"])
    if assembler is not None:
        return assembler.render(context, html=html, headers=headers)
    return templates().render("daily-digest", context, html=html, headers=headers)


def load_papers(session: Session, deliveries: Sequence[Delivery]) -> dict[int, Paper]:
    ids = {int(p["paper_id"]) for d in deliveries for p in (d.picks or [])}
    if not ids:
        return {}
    return {p.id: p for p in session.scalars(select(Paper).where(Paper.id.in_(ids)))}


def render_delivery(rt: Runtime, session: Session, delivery_id: int) -> RenderedMessage:
    """The digest of one delivery as its subscriber got (or will get) it; the web view shows ``.html``."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise LookupError(f"no delivery with id {delivery_id}")
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    if subscriber is None:
        raise LookupError(f"delivery {delivery_id} has no subscriber")
    return render_loaded(rt, delivery, subscriber, load_papers(session, [delivery]))
