"""From a link's token to the subscriber or delivery it grants access to, or the right error page.

Forged tokens and tokens for another purpose are 404 (no such link); expired, revoked or orphaned ones are 410.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import abort, url_for
from sqlalchemy.orm import Session

from service.models import Delivery, Subscriber
from service.subscribers.identity import load_delivery, load_subscriber
from service.tokens import (
    BadToken,
    DeliveryClaim,
    ReplacedToken,
    RevokedToken,
    make_token,
    read_delivery_token,
    read_pick_token,
)
from service.web.context import get_settings

GONE_MESSAGES = {
    "confirm": "This confirmation link has expired. Subscribe again from the home page to get a fresh one.",
    "data": "This data link has expired. Open your preferences page for a fresh one.",
}


def _fail(purpose: str, exc: BadToken) -> NoReturn:
    if isinstance(exc, ReplacedToken):
        abort(410, description="This link has been replaced by a newer one. Use the link in your latest email.")
    if isinstance(exc, RevokedToken):
        abort(410, description="This link no longer works: what it pointed to is gone.")
    if exc.expired:
        abort(410, description=GONE_MESSAGES.get(purpose, "This link has expired."))
    abort(404)


def subscriber_or_abort(session: Session, purpose: str, token: str) -> Subscriber:
    try:
        return load_subscriber(session, get_settings().SECRET_KEY, purpose, token)
    except BadToken as exc:
        _fail(purpose, exc)


def delivery_claim_or_abort(purpose: str, token: str) -> DeliveryClaim:
    try:
        return read_delivery_token(get_settings().SECRET_KEY, purpose, token)
    except BadToken as exc:
        _fail(purpose, exc)


def pick_claim_or_abort(token: str) -> DeliveryClaim:
    """A paper's link in a digest (one token per paper; older digests: one per link)."""
    try:
        return read_pick_token(get_settings().SECRET_KEY, token)
    except BadToken as exc:
        _fail("pick", exc)


def delivery_or_abort(session: Session, purpose: str, claim: DeliveryClaim) -> Delivery:
    try:
        return load_delivery(session, purpose, claim)
    except BadToken as exc:
        _fail(purpose, exc)


def subscriber_link(endpoint: str, purpose: str, subscriber: Subscriber, **values: Any) -> str:
    """A same-site path to one of the subscriber's pages, with a fresh token (pages link by path, not BASE_URL)."""
    payload = {"k": subscriber.link_key, "s": subscriber.id, "v": subscriber.token_version}
    return url_for(endpoint, token=make_token(get_settings().SECRET_KEY, purpose, payload), **values)
