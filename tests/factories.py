"""The one place tests make rows: papers, subscribers, digests and reactions, as the service itself stores them.

Builders take a session (they flush, the caller's transaction commits); the ``*_in`` forms take a runtime and use a
transaction of their own, for tests that drive the web app or a process beside it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Delivery, Interaction, Paper, Subscriber, utcnow
from service.runtime import Runtime

DAY = dt.date(2025, 6, 3)  # a Tuesday: the digest date most tests send for

HOSTILE_TITLE = (
    '<script>alert("x")</script> Bounds & $\\alpha < \\beta$ for Über-Ñets 数学 \U0001f680\r\nBcc: evil@example.com'
)
HOSTILE_ABSTRACT = (
    "We show that $O(n \\log n) < O(n^2)$ & that <b>bold</b> claims hold: \\begin{align} x &= y \\end{align} "
    "— with ‘quotes’, \u202eevil bidi\u202c and a NUL\x00 byte. "
)


def add_paper(session: Session, title: str, *, day: dt.date | None = DAY, **fields: Any) -> int:  # noqa: ANN401
    """One paper listed on ``day`` (its news date); any column may be given."""
    paper = Paper(
        title=title,
        title_key=fields.pop("title_key", title.lower()),
        abstract=fields.pop("abstract", f"An abstract about {title}."),
        authors=fields.pop("authors", ["Ada Lovelace", "Alan Turing"]),
        listing_date=fields.pop("listing_date", day),
        first_seen_at=fields.pop("first_seen_at", dt.datetime.combine(day or DAY, dt.time(6))),
        **fields,
    )
    session.add(paper)
    session.flush()
    return paper.id


def add_papers(
    session: Session, n: int, day: dt.date = DAY, *, prefix: str = "Paper", hostile: bool = False
) -> list[int]:
    """``n`` papers listed on ``day``, most upvoted first, arXiv ids and half with a code link; ``hostile`` makes the
    first one full of markup, LaTeX and control characters."""
    ids = []
    for i in range(n):
        bad = hostile and i == 0
        abstract = f"Abstract of {prefix.lower()} {i} about ranking and retrieval."
        authors = ["Ada <Lovelace>", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"] if bad else [f"Author {i}"]
        ids.append(
            add_paper(
                session,
                HOSTILE_TITLE if bad else f"{prefix} {i}: learning to rank {i} things",
                day=day,
                title_key=f"{prefix.lower()}-{day}-{i}",
                abstract=(HOSTILE_ABSTRACT * 3) if bad else abstract,
                authors=authors,
                author_count=4 if bad else 1,
                upvotes=100 - i,
                github_repo="owner/repo" if i % 2 == 0 else "javascript:alert(1)",
                url=f"https://arxiv.org/abs/2506.{i:05d}",
                ai_keywords=["ranking"],
            )
        )
    return ids


def add_subscriber(session: Session, email: str, **prefs: Any) -> int:  # noqa: ANN401
    """A reader, confirmed unless ``status`` says otherwise, with any preferences."""
    prefs.setdefault("status", "confirmed")
    prefs.setdefault("confirmed_at", utcnow())
    subscriber = Subscriber(email=email, **prefs)
    session.add(subscriber)
    session.flush()
    return subscriber.id


def add_subscribers(session: Session, n: int) -> list[str]:
    """``n`` confirmed readers ``reader0@example.com``…: their addresses."""
    emails = [f"reader{i}@example.com" for i in range(n)]
    for email in emails:
        add_subscriber(session, email)
    return emails


def add_delivery(
    session: Session, subscriber_id: int, paper_ids: list[int], *, day: dt.date = DAY, status: str = "sent",
    section: str = "for_you", reason: str = "matches your topics",
) -> int:  # fmt: skip
    """A digest of ``day`` that showed (or will show) ``paper_ids`` in that order."""
    picks = [
        {"paper_id": pid, "position": i + 1, "reason": reason, "section": section} for i, pid in enumerate(paper_ids)
    ]
    sent_at = dt.datetime.combine(day, dt.time(7)) if status == "sent" else None
    delivery = Delivery(subscriber_id=subscriber_id, digest_date=day, status=status, picks=picks, sent_at=sent_at)
    session.add(delivery)
    session.flush()
    return delivery.id


def add_shown(session: Session, subscriber_id: int, paper_ids: list[int], before: dt.date = DAY) -> int:
    """A sent digest that showed these papers, dated a day before the reader's earliest digest so far (and before
    ``before``): what training learns as shown, and what a later digest must not repeat."""
    earliest = session.scalar(select(func.min(Delivery.digest_date)).where(Delivery.subscriber_id == subscriber_id))
    day = min(before, earliest or before) - dt.timedelta(days=1)
    return add_delivery(session, subscriber_id, paper_ids, day=day)


def add_events(session: Session, subscriber_id: int, paper_ids: list[int], kind: str, **extra: Any) -> None:  # noqa: ANN401
    """Reactions (click, more, less) as interaction rows; ``sent``: the digest that showed them (``add_shown``)."""
    if kind == "sent":
        add_shown(session, subscriber_id, paper_ids, before=extra.pop("before", DAY))
        return
    session.add_all(Interaction(subscriber_id=subscriber_id, paper_id=p, kind=kind, **extra) for p in paper_ids)
    session.flush()


# --- the same, each in a transaction of its own -------------------------------------------------------------


def add_paper_in(rt: Runtime, title: str, **fields: Any) -> int:  # noqa: ANN401
    with rt.db.session() as session:
        return add_paper(session, title, **fields)


def add_subscriber_in(rt: Runtime, email: str = "reader@example.com", **prefs: Any) -> Subscriber:  # noqa: ANN401
    """The reader's row (detached, readable after its transaction)."""
    with rt.db.session() as session:
        return session.get(Subscriber, add_subscriber(session, email, **prefs))


def add_delivery_in(rt: Runtime, subscriber_id: int, paper_ids: list[int], **kwargs: Any) -> int:  # noqa: ANN401
    with rt.db.session() as session:
        return add_delivery(session, subscriber_id, paper_ids, **kwargs)
