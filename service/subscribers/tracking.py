"""Clicks and feedback from the email links, and telling a reader from a link scanner.

Link scanners (Safe Links, Proofpoint, Mimecast, …) GET every link of an email within seconds of delivery. Their
clicks are kept, flagged ``suspected_scanner=True``, and never learned from: the recommender trains on
``learnable()`` interactions only. A click is written synchronously to the database (no queue in between), so a
click is never lost when Redis or the workers are down.

Who is a scanner: the maintained crawler list of ``crawlerdetect`` (thousands of bots, previewers and HTTP
libraries), a few mail-security gateways it does not know, an empty agent, a HEAD request, or behaviour: several
links of one email opened within seconds. A real browser on a phone is a person even when its maker named the
model "Bot" or "Robot": the device model is left out of the agent before it is matched.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

from crawlerdetect import CrawlerDetect
from sqlalchemy import ColumnElement, delete, func, select, text, update
from sqlalchemy.orm import Session

from service.models import REACTION_ROWS, Delivery, Interaction, InteractionKind, Paper, Subscriber, utcnow
from service.paper_urls import abs_url, resource_url
from service.tokens import DeliveryClaim, owns

CLICK, MORE, LESS = InteractionKind.CLICK, InteractionKind.MORE, InteractionKind.LESS
FEEDBACK_KINDS = (MORE, LESS)

# Mail-security gateways that rewrite or pre-fetch links and that crawlerdetect's list does not name.
GATEWAY_AGENTS = ("proofpoint", "urldefense", "mimecast", "forcepoint", "trendmicro", "messagelabs", "fireeye")
# A burst: this many clicks on one email's links within BURST_SECONDS. A person opens one or two papers, a
# scanner every link at once.
BURST_LINKS = 3
BURST_SECONDS = 5
# "(Linux; Android 13; ROBOT 2 Build/TP1A)": the platform part of a phone browser's agent, model included.
_ANDROID_MODEL = re.compile(r"(\(Linux; (?:U; )?Android [0-9.]+)(?:;[^)]*)?\)")


@lru_cache(maxsize=1)
def _detector() -> CrawlerDetect:
    return CrawlerDetect()


@lru_cache(maxsize=4096)
def looks_like_scanner_agent(user_agent: str | None) -> bool:
    """An empty agent, a known crawler's, previewer's or HTTP library's, or a mail-security gateway's."""
    agent = (user_agent or "").strip()
    if not agent:
        return True
    if any(name in agent.lower() for name in GATEWAY_AGENTS):
        return True
    return bool(_detector().isCrawler(_ANDROID_MODEL.sub(r"\1)", agent)))


def learnable() -> ColumnElement[bool]:
    """The filter every training query applies: scanner-flagged interactions are kept but never learned from."""
    return Interaction.suspected_scanner.is_(False)


@dataclass(frozen=True)
class ClickTarget:
    """Where a paper link goes and whose click it is."""

    paper_id: int
    url: str | None
    title: str
    subscriber_id: int
    tracking_enabled: bool


def safe_destination(paper: Paper) -> str | None:
    """The paper's abstract page: its stored URL if it is a plain http(s) URL, else its arXiv page."""
    return abs_url(paper)


def resolve_click(session: Session, claim: DeliveryClaim, resource: str = "abs") -> ClickTarget | None:
    """The paper a verified pick link names, and where ``resource`` of it is; None when the link no longer holds
    (the delivery is gone or now belongs to someone else) or the paper does not exist. One query."""
    row = session.execute(
        select(Paper, Delivery.subscriber_id, Delivery.planned_at, Subscriber.link_key, Subscriber.tracking_enabled)
        .select_from(Paper)
        .join(Delivery, Delivery.id == claim.delivery_id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Paper.id == claim.paper_id)
    ).first()
    if row is None:
        return None
    paper, subscriber_id, planned_at, link_key, tracking = row
    if not owns(claim.key, claim.issued, link_key, planned_at):
        return None
    return ClickTarget(paper.id, resource_url(paper, resource), paper.title, subscriber_id, bool(tracking))


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
        select(Interaction.id).where(
            Interaction.delivery_id == delivery_id,
            text(REACTION_ROWS),  # the partial index's predicate, word for word: this lookup stays off "sent" rows
            Interaction.kind == CLICK,
            Interaction.created_at >= since,
        )
    ).all()
    if len(recent) + 1 >= BURST_LINKS:
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
        select(func.count(Interaction.id)).where(
            Interaction.delivery_id == delivery_id,
            Interaction.paper_id == paper_id,
            text(REACTION_ROWS),  # as in record_click: served by the partial index on reactions
            Interaction.kind == kind,
        )
    )
    if existing:
        return False
    session.add(Interaction(subscriber_id=subscriber_id, paper_id=paper_id, delivery_id=delivery_id, kind=kind))
    session.flush()
    return True


def undo_feedback(session: Session, *, delivery_id: int, paper_id: int, kind: str) -> bool:
    """Take back "more"/"less" like this given from this delivery's paper; False when there was none.

    The recommender reads interactions afresh at every training, so the next model no longer learns from it."""
    if kind not in FEEDBACK_KINDS:
        raise ValueError(f"feedback must be one of {', '.join(FEEDBACK_KINDS)}, not {kind!r}")
    removed = session.execute(
        delete(Interaction).where(
            Interaction.delivery_id == delivery_id,
            Interaction.paper_id == paper_id,
            text(REACTION_ROWS),  # as in record_feedback: served by the partial index on reactions
            Interaction.kind == kind,
        )
    )
    return bool(removed.rowcount)
