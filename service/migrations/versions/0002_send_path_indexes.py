"""indexes for the send path at scale

* ``ix_interactions_engaged``: trending counts each candidate paper's distinct readers who clicked or asked for
  more. Through the paper_id index that query read every interaction of the paper, the ``sent`` rows included
  (one per reader it was ever mailed to), so at 100k readers a day each count grew to a quarter of a second by
  the end of a send. This partial index holds only the engaged rows.
* deliveries: a send updates each row four times (claim, picks, submitting, sent), and every update writes an
  entry into every index. ``ix_deliveries_subscriber_id`` duplicated the leading column of the unique
  (subscriber_id, digest_date) constraint, and the separate digest_date and status indexes are replaced by one
  on (digest_date, status), which is how they are queried (a day's pending or stale rows): three index entries
  per update instead of five.

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


def upgrade() -> None:
    op.create_index(
        "ix_interactions_engaged",
        "interactions",
        ["paper_id", "subscriber_id"],
        postgresql_where=ENGAGED,
        sqlite_where=ENGAGED,
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_date_status", ["digest_date", "status"], unique=False)
        batch_op.drop_index("ix_deliveries_subscriber_id")
        batch_op.drop_index("ix_deliveries_status")
        batch_op.drop_index("ix_deliveries_digest_date")


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_digest_date", ["digest_date"], unique=False)
        batch_op.create_index("ix_deliveries_status", ["status"], unique=False)
        batch_op.create_index("ix_deliveries_subscriber_id", ["subscriber_id"], unique=False)
        batch_op.drop_index("ix_deliveries_date_status")
    op.drop_index("ix_interactions_engaged", table_name="interactions")
