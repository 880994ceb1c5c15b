"""The data model. Every table the service has, in one place, so the schema reads as one story.

Keep this file and the migrations (``migrations/versions/``) in step: ``tests/test_migrations.py`` fails when
they differ.
"""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class DeliveryStatus(StrEnum):
    """Where one digest stands; the transitions are ``service.digest.states`` (compare-and-set, batched)."""

    PLANNED = "planned"  # due, waiting to be claimed by a sender
    SENDING = "sending"  # claimed (a lease): being ranked and rendered; nothing has left yet
    SUBMITTING = "submitting"  # its request is going to the provider: the provider may have it
    SENT = "sent"  # accepted by the provider
    SKIPPED = "skipped"  # nothing to send after all (nothing new, unsubscribed, suppressed): never retried
    FAILED = "failed"  # refused for good, or the outcome is unknown: never sent again automatically


IN_FLIGHT = (DeliveryStatus.SENDING, DeliveryStatus.SUBMITTING)


class InteractionKind(StrEnum):
    """What a reader did with a paper. ``sent`` (shown by a digest) is not stored as a row since migration 0006:
    it is read from the digests' picks (``service.impressions``); training still learns it under this name."""

    SENT = "sent"
    CLICK = "click"
    MORE = "more"  # "more like this"
    LESS = "less"  # "less like this"
    OPEN = "open"


class SubscriptionStatus(StrEnum):
    """The subscription lifecycle (``service.subscribers.lifecycle``)."""

    UNCONFIRMED = "unconfirmed"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


# Interactions that show interest in a paper (trending counts them): the predicate of a partial index, written
# as literal SQL so that queries can repeat it word for word and the database can use that index.
ENGAGED_ROWS = "kind IN ('click', 'more')"
# A reader's reactions to one digest (clicks, more, less): looked up by delivery on the click and feedback paths,
# through a partial index of the reactions alone.
REACTION_ROWS = "kind IN ('click', 'more', 'less')"
# Clicks alone, by time: ``/metrics`` counts the last day's on every scrape without reading the older ones.
CLICK_ROWS = "kind = 'click'"


LINK_KEY_BYTES = 9  # 72 random bits: 12 base64url characters in every emailed link


def new_link_key() -> str:
    """A reader's link key: random, URL-safe, made once per subscriber and never reissued (``service.tokens``)."""
    return secrets.token_urlsafe(LINK_KEY_BYTES)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Naive UTC datetimes everywhere, so SQLite and PostgreSQL store the same values."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


# --- ingest -------------------------------------------------------------------------------------------------


class RawPage(Base):
    """A page exactly as received, stored before parsing so nothing is ever lost."""

    __tablename__ = "raw_pages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the bytes
    source: Mapped[str] = mapped_column(String(32))  # seed-text | hf-api | arxiv-atom | unknown
    origin: Mapped[str] = mapped_column(Text)  # file path or URL it came from
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger)
    # pending | parsed | failed | superseded (a failed answer whose origin later answered properly: see
    # ``retryable``)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    # The failure was the source's, not the page's (e.g. results promised and none sent): fetch the origin again
    retryable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    listing_date: Mapped[dt.date | None] = mapped_column(Date)  # the listing day the page itself states, if any
    entries: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    parsed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


# How a paper's ``listing_date`` is known, strongest first (``service/ingest/lifecycle.py`` holds the rule):
DATE_BASES = (
    "listing",  # a source stated the full date: HF listing day, arXiv announcement day, arXiv v1 published date
    "revision",  # only ever seen as a replacement or later version: history, never news (listing_date is NULL)
    "published",  # no listing date stated, but the publication date (an archived API day without its date)
    "inferred",  # a capture's year-less date ("Nov 19"), its year inferred from the day the page was received
    "first-seen",  # no source states a date: the day the paper was first seen
)


class Paper(Base):
    """One paper, however many pages and days it appeared on.

    ``listing_date`` is the day the paper is news: a digest's candidates are the papers whose listing date falls
    in the reader's window. ``date_basis`` says where that day comes from (``DATE_BASES``); only ``listing`` is a
    date the source states in full (show it with its year; trending uses only those).
    """

    __tablename__ = "papers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arxiv_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    title_key: Mapped[str] = mapped_column(String(512), unique=True)  # normalised title, the fallback identity
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text, default="")
    authors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    author_count: Mapped[int | None] = mapped_column(Integer)
    published_on: Mapped[dt.date | None] = mapped_column(Date)
    listing_date: Mapped[dt.date | None] = mapped_column(Date, index=True)  # the earliest listing it appeared on
    date_basis: Mapped[str] = mapped_column(String(16), default="listing", server_default="listing")
    arxiv_version: Mapped[int | None] = mapped_column(Integer)  # the highest arXiv version seen (5 for ``v5``)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    withdrawn_note: Mapped[str | None] = mapped_column(Text)  # the source's words, e.g. the arXiv comment
    first_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    upvotes: Mapped[int] = mapped_column(Integer, default=0)
    num_comments: Mapped[int] = mapped_column(Integer, default=0)
    github_repo: Mapped[str | None] = mapped_column(Text)
    github_stars: Mapped[int | None] = mapped_column(Integer)
    project_page: Mapped[str | None] = mapped_column(Text)
    code_links: Mapped[list[Any]] = mapped_column(JSON, default=list)
    ai_summary: Mapped[str | None] = mapped_column(Text)
    ai_keywords: Mapped[list[Any]] = mapped_column(JSON, default=list)
    organization: Mapped[str | None] = mapped_column(Text)
    thumbnail: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)  # where a click on this paper goes

    sightings: Mapped[list[PaperSighting]] = relationship(back_populates="paper", cascade="all, delete-orphan")

    @property
    def stated_listing_date(self) -> dt.date | None:
        """The listing date when a source stated it in full; None for inferred or first-seen days."""
        return self.listing_date if self.date_basis == "listing" else None


class PaperSighting(Base):
    """A paper seen on one page: the history behind trending and 'new today'."""

    __tablename__ = "paper_sightings"
    __table_args__ = (UniqueConstraint("paper_id", "raw_page_id", name="uq_sighting_paper_page"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), index=True)
    raw_page_id: Mapped[int] = mapped_column(ForeignKey("raw_pages.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    upvotes: Mapped[int | None] = mapped_column(Integer)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    paper: Mapped[Paper] = relationship(back_populates="sightings")


# --- subscribers --------------------------------------------------------------------------------------------


class Subscriber(Base):
    """A reader: subscription state (unconfirmed/confirmed/unsubscribed) and their preferences."""

    __tablename__ = "subscribers"
    # Ids are never handed out again, even after a reader deletes their data (SQLite would reuse the highest).
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # canonical: see subscribers.addresses
    status: Mapped[str] = mapped_column(String(16), default="unconfirmed", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    token_version: Mapped[int] = mapped_column(Integer, default=1)  # bump to revoke every link sent so far
    # Random, made once, never reissued: every emailed link carries it, so a link opens only this reader's account
    link_key: Mapped[str] = mapped_column(String(24), default=new_link_key)
    # preferences
    topics: Mapped[list[Any]] = mapped_column(JSON, default=list)
    include_keywords: Mapped[list[Any]] = mapped_column(JSON, default=list)
    exclude_keywords: Mapped[list[Any]] = mapped_column(JSON, default=list)
    followed_authors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    papers_per_email: Mapped[int] = mapped_column(Integer, default=10)
    frequency: Mapped[str] = mapped_column(String(16), default="daily")  # daily | weekdays | weekly
    weekly_day: Mapped[int] = mapped_column(Integer, default=0)  # 0 = Monday, for weekly
    send_hour: Mapped[int] = mapped_column(Integer, default=7)  # local hour, 0-23
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    email_format: Mapped[str] = mapped_column(String(8), default="html")  # html | text
    paused_until: Mapped[dt.date | None] = mapped_column(Date)
    tracking_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    # hidden topic preferences of a simulated reader (``paperboy simulate``); null for real people
    simulation_profile: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Interaction(Base):
    """What a subscriber did with a paper: click, more (like this), less (like this); what digests showed them is
    their picks (``deliveries.picks``)."""

    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_subscriber_kind", "subscriber_id", "kind"),
        # Trending counts engaged readers per paper through the engaged rows alone.
        Index(
            "ix_interactions_engaged",
            "paper_id",
            "subscriber_id",
            postgresql_where=text(ENGAGED_ROWS),
            sqlite_where=text(ENGAGED_ROWS),
        ),
        Index(
            "ix_interactions_reactions",
            "delivery_id",
            "paper_id",
            postgresql_where=text(REACTION_ROWS),
            sqlite_where=text(REACTION_ROWS),
        ),
        Index("ix_interactions_clicks", "created_at", postgresql_where=text(CLICK_ROWS), sqlite_where=text(CLICK_ROWS)),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    # No foreign keys on the two columns below: checking them for each of the 13 rows a digest appends was a
    # third of the database's work per digest (see migration 0002). Papers are never deleted; deliveries only
    # with their subscriber, whose interactions go first.
    paper_id: Mapped[int] = mapped_column(Integer, index=True)
    delivery_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    position: Mapped[int | None] = mapped_column(Integer)  # rank in the email, for position-bias analysis
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    suspected_scanner: Mapped[bool] = mapped_column(Boolean, default=False)  # kept, never learned from
    user_agent: Mapped[str | None] = mapped_column(Text)


# --- delivery -----------------------------------------------------------------------------------------------


class Delivery(Base):
    """One digest for one subscriber on one date: claimed atomically, so it is sent at most once."""

    __tablename__ = "deliveries"
    # Every index costs an entry on each of the four updates a send makes to a row: the unique constraint serves
    # lookups by subscriber, the (date, status) index a day's pending and stale rows.
    __table_args__ = (
        UniqueConstraint("subscriber_id", "digest_date", name="uq_delivery_subscriber_date"),
        Index("ix_deliveries_date_status", "digest_date", "status"),
        {"sqlite_autoincrement": True},  # links name deliveries by id: never reuse one
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    digest_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    # ``DeliveryStatus``: planned | sending | submitting | sent | skipped | failed
    picks: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"paper_id", "reason", "section"}]
    skip_reason: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str | None] = mapped_column(String(255))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    planned_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Suppression(Base):
    """An address we must not mail (bounce, spam report, manual), whatever its subscription says."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class WebhookEvent(Base):
    """A provider event already processed: providers deliver more than once, we act once."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_event_id: Mapped[str] = mapped_column(String(255), unique=True)  # sg_event_id
    event: Mapped[str] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(320))
    delivery_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


# --- recommender --------------------------------------------------------------------------------------------


class ModelVersion(Base):
    """A trained recommender on disk (``.npz`` + JSON); digests use the newest one with status ``ready``."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="training", index=True)  # training|ready|failed
    path: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    n_users: Mapped[int] = mapped_column(Integer, default=0)
    n_items: Mapped[int] = mapped_column(Integer, default=0)
    n_interactions: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
