"""Helpers the web tests share: rows made directly in the database, CSRF tokens, links from the outbox."""

from __future__ import annotations

import datetime as dt
import email
import re
from email.message import Message
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

from sqlalchemy import select

from service.links import PickLinks
from service.models import Delivery, Subscriber
from service.runtime import Runtime
from tests.factories import DAY, add_delivery_in, add_paper_in, add_subscriber_in

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no form with a csrf_token"
    return match.group(1)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def add_paper(rt: Runtime, title: str, **fields: object) -> int:
    return add_paper_in(rt, title, **fields)


def add_subscriber(rt: Runtime, email_address: str = "reader@example.com", **preferences: object) -> Subscriber:
    return add_subscriber_in(rt, email_address, **preferences)


def add_delivery(rt: Runtime, subscriber_id: int, paper_ids: list[int], *, day: dt.date | None = None) -> int:
    return add_delivery_in(rt, subscriber_id, paper_ids, day=day or DAY)


def pick_links(rt: Runtime, delivery_id: int, paper_id: int, position: int = 1) -> PickLinks:
    """The links a digest gives one paper of ``delivery_id`` (signed with its reader's link key)."""
    with rt.db.session() as session:
        key = session.scalar(
            select(Subscriber.link_key)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.id == delivery_id)
        )
    return rt.links.pick(delivery_id, paper_id, position, key or "legacy-key-none")


def reader(subscriber: Subscriber, version: int = 1) -> SimpleNamespace:
    """``subscriber`` as its links name it, at token version ``version`` (an older one makes a revoked link)."""
    return SimpleNamespace(id=subscriber.id, token_version=version, link_key=subscriber.link_key)


def digest_path(rt: Runtime, delivery_id: int) -> str:
    """The web view link of ``delivery_id`` (signed with its reader's link key, if it has one)."""
    with rt.db.session() as session:
        key = session.scalar(
            select(Subscriber.link_key)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.id == delivery_id)
        )
    return path_of(rt.links.digest(delivery_id, key or "legacy-key-none"))


def click_path(rt: Runtime, delivery_id: int, paper_id: int, position: int = 1) -> str:
    return path_of(pick_links(rt, delivery_id, paper_id, position).url)


def feedback_path(rt: Runtime, delivery_id: int, paper_id: int, kind: str) -> str:
    return path_of(pick_links(rt, delivery_id, paper_id).feedback(kind))


def outbox_messages(rt: Runtime) -> list[Message]:
    folder = Path(rt.settings.OUTBOX_DIR)
    if not folder.is_dir():
        return []
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


def text_part(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError("message has no text/plain part")


def links_in(message: Message, path_prefix: str) -> list[str]:
    """Same-site paths of the links in a message's text part that start with ``path_prefix``."""
    urls = re.findall(r"https?://[^\s<>\"')\]]+", text_part(message))
    return [path_of(u) for u in urls if urlsplit(u).path.startswith(path_prefix)]
