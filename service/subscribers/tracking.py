"""Clicks and feedback from the email links, and telling a reader from a link scanner.

Link scanners (Safe Links, Proofpoint, Mimecast, …) GET every link of an email within seconds of delivery.
Their clicks are kept, flagged ``suspected_scanner=True``, and never learned from: the recommender trains on
``learnable()`` interactions only. A click is written synchronously to the database (no queue in between),
so a click is never lost when Redis or the workers are down.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, text, update
from sqlalchemy.orm import Session

from service.models import REACTION_ROWS, Delivery, Interaction, Paper, Subscriber, utcnow

CLICK, MORE, LESS = "click", "more", "less"
FEEDBACK_KINDS = (MORE, LESS)

# Lower-case fragments of the User-Agent of known link scanners, URL previewers and scripted clients.
SCANNER_AGENTS = (
    "bingpreview",
    "safelinks",
    "safe links",
    "microsoft office",
    "ms-office",
    "proofpoint",
    "urldefense",
    "mimecast",
    "barracuda",
    "forcepoint",
    "trendmicro",
    "symantec",
    "messagelabs",
    "fireeye",
    "sophos",
    "zscaler",
    "google-safety",
    "googleimageproxy",
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "go-http-client",
    "curl/",
    "wget/",
    "libwww-perl",
    "java/",
    "okhttp",
    "slackbot",
    "facebookexternalhit",
    "twitterbot",
    "linkedinbot",
    "skypeuripreview",
    "whatsapp",
    "bot",
    "crawler",
    "spider",
)
# Many links of one email within seconds: a human opens one or two papers, a scanner opens them all.
BURST_LINKS = 3
BURST_SECONDS = 5


def looks_like_scanner_agent(user_agent: str | None) -> bool:
    """An empty agent or a known scanner's: a real mail client's browser always sends one of its own."""
    agent = (user_agent or "").strip().lower()
    return not agent or any(fragment in agent for fragment in SCANNER_AGENTS)


def learnable() -> ColumnElement[bool]:
    """The filter every training query applies: scanner-flagged interactions are kept but never learned from."""
    return Interaction.suspected_scanner.is_(False)


@dataclass(frozen=True)
class ClickTarget:
    """Where a tracked link goes and whose click it is (``subscriber_id`` None once the delivery is gone)."""

    paper_id: int
    url: str | None
    title: str
    subscriber_id: int | None
    tracking_enabled: bool


def safe_destination(paper: Paper) -> str | None:
    """The paper's stored URL if it is an absolute http(s) URL, else its arXiv page; never anything from the request."""
    url = (paper.url or "").strip()
    if url.lower().startswith(("https://", "http://")) and not any(ch in url for ch in "\r\n\t "):
        return url
    if paper.arxiv_id and _arxiv_id_ok(paper.arxiv_id):
        return f"https://arxiv.org/abs/{paper.arxiv_id}"
    return None


def _arxiv_id_ok(arxiv_id: str) -> bool:
    return all(ch.isalnum() or ch in "./-" for ch in arxiv_id) and len(arxiv_id) <= 64


def resolve_click(session: Session, delivery_id: int, paper_id: int) -> ClickTarget | None:
    """Look the destination up in the database (one query); None when the paper does not exist."""
    row = session.execute(
        select(Paper, Delivery.subscriber_id, Subscriber.tracking_enabled)
        .select_from(Paper)
        .outerjoin(Delivery, Delivery.id == delivery_id)
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Paper.id == paper_id)
    ).first()
    if row is None:
        return None
    paper, subscriber_id, tracking = row
    return ClickTarget(paper.id, safe_destination(paper), paper.title, subscriber_id, bool(tracking))


def record_click(
    session: Session,
    *,
    subscriber_id: int,
    delivery_id: int,
    paper_id: int,
    position: int | None,
    user_agent: str | None,
    head_request: bool = False,
    now: dt.datetime | None = None,
) -> Interaction:
    """Store one click; flag it (and the burst it belongs to) when it looks like a scanner's."""
    now = now or utcnow()
    suspected = head_request or looks_like_scanner_agent(user_agent)
    since = now - dt.timedelta(seconds=BURST_SECONDS)
    recent = session.execute(
        select(Interaction.id, Interaction.paper_id).where(
            Interaction.delivery_id == delivery_id,
            text(REACTION_ROWS),  # the partial index's predicate, word for word: this lookup stays off "sent" rows
            Interaction.kind == CLICK,
            Interaction.created_at >= since,
        )
    ).all()
    if len({row.paper_id for row in recent} | {paper_id}) >= BURST_LINKS:
        suspected = True
        session.execute(
            update(Interaction)
            .where(Interaction.id.in_([row.id for row in recent]))
            .values(suspected_scanner=True)
            .execution_options(synchronize_session=False)
        )
    click = Interaction(
        subscriber_id=subscriber_id,
        paper_id=paper_id,
        delivery_id=delivery_id,
        kind=CLICK,
        position=position,
        created_at=now,
        suspected_scanner=suspected,
        user_agent=(user_agent or "")[:512] or None,
    )
    session.add(click)
    session.flush()
    return click


def record_feedback(session: Session, *, delivery_id: int, paper_id: int, kind: str) -> bool:
    """Record "more"/"less" like this for the delivery's subscriber; False when already recorded or gone.

    Feedback only arrives by a POST from the confirm page, so it is a person's, never a scanner's.
    """
    if kind not in FEEDBACK_KINDS:
        raise ValueError(f"feedback must be one of {', '.join(FEEDBACK_KINDS)}, not {kind!r}")
    subscriber_id = session.scalar(select(Delivery.subscriber_id).where(Delivery.id == delivery_id))
    if subscriber_id is None or session.get(Paper, paper_id) is None:
        return False
    existing = session.scalar(
        select(Interaction.id).where(
            Interaction.delivery_id == delivery_id,
            Interaction.paper_id == paper_id,
            text(REACTION_ROWS),  # as in record_click: served by the partial index on reactions
            Interaction.kind == kind,
        )
    )
    if existing is not None:
        return False
    session.add(Interaction(subscriber_id=subscriber_id, paper_id=paper_id, delivery_id=delivery_id, kind=kind))
    session.flush()
    return True
