"""Reading a digest outside the inbox: the web view of one delivery and a subscriber's personal Atom feed."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy import select

from service.models import IN_FLIGHT, Delivery, DeliveryStatus, Paper, Subscriber
from service.paper_urls import paper_path
from service.subscribers.tracking import safe_destination
from service.web.access import delivery_claim_or_abort, delivery_or_abort, subscriber_or_abort
from service.web.context import get_db, get_runtime
from service.web.personal import remember_reader

bp = Blueprint("reader", __name__)

FEED_DELIVERIES = 30


@bp.get("/digest/<token>")
def digest(token: str):
    """The digest as a page of the site: the email's picks, reasons and links (tracked as the reader chose), each
    paper's title leading to its page here."""
    from service.digest.build import digest_context, load_papers

    claim = delivery_claim_or_abort("digest", token)
    rt = get_runtime()
    with rt.db.session() as session:
        delivery = delivery_or_abort(session, "digest", claim)
        if delivery.status not in (DeliveryStatus.SENT, *IN_FLIGHT):
            abort(404, description="This digest is not available.")
        subscriber = session.get(Subscriber, delivery.subscriber_id)
        if subscriber is None:
            abort(410, description="This digest is no longer ours to show.")
        context = digest_context(rt, delivery, subscriber, load_papers(session, [delivery]))
        remember_reader(subscriber)
        return render_template("web/digest.html", **context)


def feed_id(base_url: str, subscriber: Subscriber) -> str:
    """The feed's Atom ``<id>`` (RFC 4287 §4.2.6: permanent, unique): a ``tag:`` URI (RFC 4151) of the site's host
    and the subscriber's sign-up date and row id. Never a token: tokens are signed afresh on every request."""
    host = urlsplit(base_url).hostname or "paperboy.localhost"
    return f"tag:{host},{subscriber.created_at:%Y-%m-%d}:feed/{subscriber.id}"


@bp.get("/feed/<token>.atom")
def feed(token: str):
    """The subscriber's picks, newest digest first, as Atom; paper links are tracked unless tracking is off."""
    rt = get_runtime()
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "feed", token)
        deliveries = session.scalars(
            select(Delivery)
            .where(Delivery.subscriber_id == subscriber.id, Delivery.status == DeliveryStatus.SENT)
            .order_by(Delivery.digest_date.desc())
            .limit(FEED_DELIVERIES)
        ).all()
        paper_ids = {pick["paper_id"] for d in deliveries for pick in d.picks if isinstance(pick, dict)}
        papers = {p.id: p for p in session.scalars(select(Paper).where(Paper.id.in_(paper_ids)))}
        entries = []
        for delivery in deliveries:
            for index, pick in enumerate(delivery.picks or []):
                paper = papers.get(pick.get("paper_id")) if isinstance(pick, dict) else None
                if paper is None:
                    continue
                if subscriber.tracking_enabled:  # same position numbering as the email's links (1-based)
                    position = int(pick.get("position", index + 1))
                    link = rt.links.pick(delivery.id, paper.id, position, subscriber.link_key).url
                else:
                    link = safe_destination(paper) or rt.links.digest(delivery.id, subscriber.link_key)
                entries.append(
                    {
                        "delivery": delivery,
                        "paper": paper,
                        "link": link,
                        "page": rt.links.root + paper_path(paper),
                        "reason": pick.get("reason"),
                    }
                )
        updated = max((d.sent_at or d.planned_at for d in deliveries), default=subscriber.created_at)
        body = render_template(
            "web/feed.xml",
            subscriber=subscriber,
            entries=entries,
            updated=updated,
            feed_id=feed_id(rt.settings.BASE_URL, subscriber),
            self_url=rt.links.root + request.path,  # the address the reader subscribed to, not a new token's
            home_url=rt.links.root + "/",
        )
    return Response(body, mimetype="application/atom+xml")
