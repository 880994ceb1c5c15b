"""papers keep the source's dates, versions and withdrawals; failed pages say whether to fetch them again

``papers.listing_date`` becomes the day a paper is news by its source's own facts, and ``papers.date_basis`` says
where that day comes from: ``listing`` (a date the source states), ``revision`` (only ever seen as a later
version: never news), ``published`` (no listing date, the publication date), ``inferred`` (a capture's year-less
date) or ``first-seen`` (no date stated). Existing
papers that no dated page ever listed got the day they were ingested as their listing date: they are marked
``first-seen`` here, which is what that day was. ``arxiv_version``, ``withdrawn`` and ``withdrawn_note`` record
the lifecycle; ``raw_pages.retryable`` marks a failure that was the source's (fetch the origin again).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UNDATED = sa.text(
    "UPDATE papers SET date_basis = 'first-seen' WHERE NOT EXISTS ("
    " SELECT 1 FROM paper_sightings s JOIN raw_pages r ON r.id = s.raw_page_id"
    " WHERE s.paper_id = papers.id AND r.listing_date IS NOT NULL)"
)


def upgrade() -> None:
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("date_basis", sa.String(length=16), nullable=False, server_default="listing"))
        batch_op.add_column(sa.Column("arxiv_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("withdrawn", sa.Boolean(), nullable=False, server_default=sa.text("false")))
        batch_op.add_column(sa.Column("withdrawn_note", sa.Text(), nullable=True))
    with op.batch_alter_table("raw_pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retryable", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    op.execute(UNDATED)


def downgrade() -> None:
    with op.batch_alter_table("raw_pages", schema=None) as batch_op:
        batch_op.drop_column("retryable")
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.drop_column("withdrawn_note")
        batch_op.drop_column("withdrawn")
        batch_op.drop_column("arxiv_version")
        batch_op.drop_column("date_basis")
