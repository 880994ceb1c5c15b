"""what a digest showed is read from its picks: the per-paper ``sent`` interaction rows move into the deliveries

A send used to append one ``sent`` interaction per paper shown (13 per digest: most of the table, a third of the
database's work per digest) although the delivery's ``picks`` already held the same papers and positions. Now
"already sent", "shown, not clicked" and positions are read from ``deliveries.picks`` (``service.impressions``),
and the history moves there:

* a delivery whose ``sent`` rows exist but whose picks are empty gets its picks back from the rows;
* ``sent`` rows that belong to no delivery (histories written by older simulations) become one sent delivery per
  reader and day, or join the picks of the reader's delivery of that day;
* then every ``sent`` row is deleted. Clicks, "more" and "less" stay where they are.

Downgrading writes the ``sent`` rows back from the picks of every sent delivery.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 02:00:00
"""

from __future__ import annotations

import json
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CHUNK = 10_000

interactions = sa.table(
    "interactions",
    sa.column("id", sa.BigInteger),
    sa.column("subscriber_id", sa.Integer),
    sa.column("paper_id", sa.Integer),
    sa.column("delivery_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("position", sa.Integer),
    sa.column("created_at", sa.DateTime),
    sa.column("suspected_scanner", sa.Boolean),
)
deliveries = sa.table(
    "deliveries",
    sa.column("id", sa.Integer),
    sa.column("subscriber_id", sa.Integer),
    sa.column("digest_date", sa.Date),
    sa.column("status", sa.String),
    sa.column("picks", sa.JSON),
    sa.column("attempts", sa.Integer),
    sa.column("planned_at", sa.DateTime),
    sa.column("sent_at", sa.DateTime),
)


def _pick(paper_id: int, position: int | None, rank: int) -> dict:
    return {"paper_id": int(paper_id), "position": int(position or rank), "section": "for_you", "reason": ""}


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            interactions.c.subscriber_id, interactions.c.paper_id, interactions.c.delivery_id,
            interactions.c.position, interactions.c.created_at,
        )
        .where(interactions.c.kind == "sent")
        .order_by(interactions.c.subscriber_id, interactions.c.created_at, interactions.c.position)
    )  # fmt: skip
    by_delivery: dict[int, list] = defaultdict(list)
    loose: dict[tuple, list] = defaultdict(list)  # (subscriber, day) → rows of no delivery
    for subscriber_id, paper_id, delivery_id, position, created_at in rows:
        if delivery_id is not None:
            by_delivery[delivery_id].append((paper_id, position, created_at))
        else:
            loose[(subscriber_id, created_at.date())].append((paper_id, position, created_at))
    known = {}
    delivery_ids = list(by_delivery)
    for start in range(0, len(delivery_ids), CHUNK):
        ids = delivery_ids[start : start + CHUNK]
        known.update(
            (i, picks)
            for i, picks in bind.execute(sa.select(deliveries.c.id, deliveries.c.picks).where(deliveries.c.id.in_(ids)))
        )
    for delivery_id, shown in by_delivery.items():
        if delivery_id not in known:
            continue  # its delivery is gone, and with it its reader (erased): nothing to keep
        if not known[delivery_id]:
            picks = [_pick(p, pos, rank) for rank, (p, pos, _at) in enumerate(shown, start=1)]
            bind.execute(deliveries.update().where(deliveries.c.id == delivery_id).values(picks=picks))
    for (subscriber_id, day), shown in loose.items():
        existing = bind.execute(
            sa.select(deliveries.c.id, deliveries.c.picks).where(
                deliveries.c.subscriber_id == subscriber_id, deliveries.c.digest_date == day
            )
        ).first()
        if existing is not None:
            picks = list(existing.picks or [])
            seen = {p.get("paper_id") for p in picks if isinstance(p, dict)}
            picks += [_pick(p, pos, len(picks) + r) for r, (p, pos, _at) in enumerate(shown, 1) if p not in seen]
            bind.execute(deliveries.update().where(deliveries.c.id == existing.id).values(picks=picks))
            continue
        at = shown[0][2]
        bind.execute(
            deliveries.insert().values(
                subscriber_id=subscriber_id, digest_date=day, status="sent", attempts=1, planned_at=at, sent_at=at,
                picks=[_pick(p, pos, rank) for rank, (p, pos, _at) in enumerate(shown, start=1)],
            )
        )  # fmt: skip
    bind.execute(interactions.delete().where(interactions.c.kind == "sent"))


def downgrade() -> None:
    bind = op.get_bind()
    sent = bind.execute(
        sa.select(deliveries.c.id, deliveries.c.subscriber_id, deliveries.c.picks, deliveries.c.sent_at,
                  deliveries.c.planned_at).where(deliveries.c.status == "sent")
    )  # fmt: skip
    rows = []
    for delivery_id, subscriber_id, picks, sent_at, planned_at in sent:
        for rank, pick in enumerate(picks if isinstance(picks, list) else json.loads(picks or "[]"), start=1):
            rows.append(
                {"subscriber_id": subscriber_id, "paper_id": int(pick["paper_id"]), "delivery_id": delivery_id,
                 "kind": "sent", "position": int(pick.get("position", rank)), "created_at": sent_at or planned_at,
                 "suspected_scanner": False}
            )  # fmt: skip
        if len(rows) >= CHUNK:
            bind.execute(interactions.insert(), rows)
            rows = []
    if rows:
        bind.execute(interactions.insert(), rows)
