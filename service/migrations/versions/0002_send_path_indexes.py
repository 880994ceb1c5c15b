"""indexes for the send path at scale

* ``ix_interactions_engaged``: trending counts each candidate paper's distinct readers who clicked or asked for
  more. Through the paper_id index that query read every interaction of the paper, the ``sent`` rows included
  (one per reader it was ever mailed to), so at 100k readers a day each count grew to a quarter of a second by
  the end of a send. This partial index holds only the engaged rows.
* ``ix_interactions_reactions``: the click path (is this a scanner's burst?) and the feedback path (already
  recorded?) look a delivery's reactions up by delivery id, which no index served: the click check went through
  ``created_at``, whose recent range is full of ``sent`` rows while a send runs, the feedback check through
  ``paper_id`` (every reader the paper was mailed to). This partial index leaves the ``sent`` rows out.
* deliveries: a send updates each row four times (claim, picks, submitting, sent), and every update writes an
  entry into every index. ``ix_deliveries_subscriber_id`` duplicated the leading column of the unique
  (subscriber_id, digest_date) constraint, and the separate digest_date and status indexes are replaced by one
  on (digest_date, status), which is how they are queried (a day's pending or stale rows): three index entries
  per update instead of five.
* interactions: a send appends one ``sent`` row per paper shown (13 per digest), and the foreign keys to papers
  and deliveries made PostgreSQL look both rows up, and lock them, for every one: about a third of the
  database's work per digest. The application writes those ids from rows it holds in the same transaction,
  never deletes papers, and deletes deliveries only when erasing a subscriber, after their interactions
  (``service.subscribers.privacy``). The key to subscribers stays, with its cascade: erasure must never leave a
  reader's history behind.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ENGAGED = sa.text("kind IN ('click', 'more')")
REACTIONS = sa.text("kind IN ('click', 'more', 'less')")


# SQLite's foreign keys have no names; batch mode names the reflected ones by this pattern to drop them.
SQLITE_FK_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _drop_event_foreign_keys() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("interactions", naming_convention=SQLITE_FK_NAMES) as batch_op:
            batch_op.drop_constraint("fk_interactions_paper_id_papers", type_="foreignkey")
            batch_op.drop_constraint("fk_interactions_delivery_id_deliveries", type_="foreignkey")
    else:
        op.drop_constraint("interactions_paper_id_fkey", "interactions", type_="foreignkey")
        op.drop_constraint("interactions_delivery_id_fkey", "interactions", type_="foreignkey")


def upgrade() -> None:
    op.create_index(
        "ix_interactions_engaged",
        "interactions",
        ["paper_id", "subscriber_id"],
        postgresql_where=ENGAGED,
        sqlite_where=ENGAGED,
    )
    op.create_index(
        "ix_interactions_reactions",
        "interactions",
        ["delivery_id", "paper_id"],
        postgresql_where=REACTIONS,
        sqlite_where=REACTIONS,
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_date_status", ["digest_date", "status"], unique=False)
        batch_op.drop_index("ix_deliveries_subscriber_id")
        batch_op.drop_index("ix_deliveries_status")
        batch_op.drop_index("ix_deliveries_digest_date")
    _drop_event_foreign_keys()


def downgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_foreign_key("interactions_paper_id_fkey", "papers", ["paper_id"], ["id"], ondelete="CASCADE")
        batch_op.create_foreign_key(
            "interactions_delivery_id_fkey", "deliveries", ["delivery_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_digest_date", ["digest_date"], unique=False)
        batch_op.create_index("ix_deliveries_status", ["status"], unique=False)
        batch_op.create_index("ix_deliveries_subscriber_id", ["subscriber_id"], unique=False)
        batch_op.drop_index("ix_deliveries_date_status")
    op.drop_index("ix_interactions_reactions", table_name="interactions")
    op.drop_index("ix_interactions_engaged", table_name="interactions")
