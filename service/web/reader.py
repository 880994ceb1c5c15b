"""Reading a digest outside the inbox: the web view of one delivery and a subscriber's personal Atom feed."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template
from sqlalchemy import select

from service import get_db, get_runtime
from service.models import Delivery, Paper
from service.subscribers.tracking import safe_destination
from service.web.access import delivery_claim_or_abort, delivery_or_abort, subscriber_or_abort
from service.web.headers import DIGEST_CSP

bp = Blueprint("reader", __name__)

FEED_DELIVERIES = 30


@bp.get("/digest/<token>")
def digest(token: str):
    """The email's own HTML, rendered again from the delivery (same picks, same tracked links)."""
    from service.digest import render_delivery

    claim = delivery_claim_or_abort("digest", token)
    rt = get_runtime()
    with rt.db.session() as session:
        delivery = delivery_or_abort(session, "digest", claim)
        if delivery.status not in ("sent", "sending", "submitting"):
            abort(404, description="This digest is not available.")
        html = render_delivery(rt, session, delivery.id).html
    return Response(html, mimetype="text/html", headers={"Content-Security-Policy": DIGEST_CSP})


@bp.get("/feed/<token>.atom")
def feed(token: str):
    """The subscriber's picks, newest digest first, as Atom; paper links are tracked unless tracking is off."""
    rt = get_runtime()
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "feed", token)
        deliveries = session.scalars(
            select(Delivery)
            .where(Delivery.subscriber_id == subscriber.id, Delivery.status == "sent")
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
                entries.append({"delivery": delivery, "paper": paper, "link": link, "reason": pick.get("reason")})
        updated = max((d.sent_at or d.planned_at for d in deliveries), default=subscriber.created_at)
        body = render_template(
            "web/feed.xml",
            subscriber=subscriber,
            entries=entries,
            updated=updated,
            self_url=rt.links.feed(subscriber),
            home_url=rt.settings.BASE_URL.rstrip("/") + "/",
        )
    return Response(body, mimetype="application/atom+xml")
