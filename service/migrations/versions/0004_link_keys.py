"""every link bound to one reader for good: per-subscriber link keys, ids never reused

* ``subscribers.link_key``: a random key per reader, made once and never reissued, carried by every emailed link
  and checked against the row the link names. Existing readers get theirs here; links they already hold (no key)
  keep working while their row is older than the link (``service.tokens.owns``).
* Stored addresses take their canonical form (``service.mail.addresses``): NFKC, lower case, the domain in
  ASCII (``reader@bücher.example`` → ``reader@xn--bcher-kva.example``), so headers, provider payloads and
  suppression lookups agree. An address that has no such form (a non-ASCII local part) or whose canonical form
  another row already holds is left as it is: sending to it fails that one delivery with the reason.
* SQLite: ``subscribers`` and ``deliveries`` become ``AUTOINCREMENT`` tables, so the id of a deleted reader (or of
  their deliveries) is never handed to someone else. SQLite otherwise reuses the highest rowid after a delete.
  PostgreSQL's sequences already never go back. The tables are rebuilt by batch mode; Alembic's connection has
  foreign keys off (the default of the driver), so dropping the old table cascades nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 23:00:00
"""

from __future__ import annotations

import secrets
import unicodedata

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

KEY_BYTES = 9  # as service.models.LINK_KEY_BYTES, fixed here as of this revision


def _fill_link_keys() -> None:
    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM subscribers WHERE link_key IS NULL"))]
    if ids:
        bind.execute(
            sa.text("UPDATE subscribers SET link_key = :key WHERE id = :id"),
            [{"id": i, "key": secrets.token_urlsafe(KEY_BYTES)} for i in ids],
        )


def _canonical(address: str) -> str | None:
    try:
        result = validate_email(
            unicodedata.normalize("NFKC", address).strip(), check_deliverability=False, allow_smtputf8=False
        )
    except EmailNotValidError:
        return None
    return result.ascii_email.lower() if result.ascii_email else None


def _canonical_emails(table: str) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(f"SELECT id, email FROM {table}")).all()  # noqa: S608 - our own table names
    taken = {email for _, email in rows}
    for row_id, email in rows:
        canonical = _canonical(email)
        if canonical and canonical != email and canonical not in taken:
            bind.execute(sa.text(f"UPDATE {table} SET email = :e WHERE id = :i"), {"e": canonical, "i": row_id})  # noqa: S608
            taken.add(canonical)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _canonical_emails("subscribers")
    _canonical_emails("suppressions")
    op.add_column("subscribers", sa.Column("link_key", sa.String(length=24), nullable=True))
    _fill_link_keys()
    table_kwargs = {"sqlite_autoincrement": True} if sqlite else {}
    with op.batch_alter_table("subscribers", recreate="always" if sqlite else "auto", table_kwargs=table_kwargs) as b:
        b.alter_column("link_key", existing_type=sa.String(length=24), nullable=False)
    if sqlite:
        with op.batch_alter_table("deliveries", recreate="always", table_kwargs=table_kwargs):
            pass


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("subscribers", recreate="always" if sqlite else "auto") as b:
        b.drop_column("link_key")
    if sqlite:
        with op.batch_alter_table("deliveries", recreate="always"):
            pass
