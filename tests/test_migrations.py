"""The Alembic migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from service.models import Base
from service.runtime import Runtime


def _diff(rt: Runtime) -> list:
    with rt.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_migrated_schema_matches_models(any_runtime: Runtime) -> None:
    assert _diff(any_runtime) == []


def test_every_model_table_exists_after_upgrade(any_runtime: Runtime) -> None:
    tables = set(inspect(any_runtime.db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_downgrade_to_base_and_back(runtime: Runtime) -> None:
    from alembic import command

    from service.db import alembic_config

    cfg = alembic_config(runtime.settings.DATABASE_URL)
    command.downgrade(cfg, "base")
    assert set(inspect(runtime.db.engine).get_table_names()) <= {"alembic_version"}
    runtime.db.upgrade()
    assert _diff(runtime) == []


def test_link_keys_migration_keeps_every_row_and_stops_id_reuse(tmp_path) -> None:
    """0004 on a database with readers: nothing is lost (no cascade from rebuilding the table), every reader gets
    a key of their own, and a deleted reader's id is never handed out again."""
    from alembic import command
    from sqlalchemy import text

    from service.db import Database, alembic_config

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config(db.url)
    command.upgrade(cfg, "0003")
    with db.engine.begin() as conn:
        for i in (1, 2, 3):
            conn.execute(
                text(
                    "INSERT INTO subscribers (id, email, status, created_at, token_version, topics, include_keywords,"
                    " exclude_keywords, followed_authors, papers_per_email, frequency, weekly_day, send_hour,"
                    " timezone, email_format, tracking_enabled, is_simulated) VALUES (:i, :e, 'confirmed',"
                    " '2026-11-01', 1, '[]', '[]', '[]', '[]', 10, 'daily', 0, 7, 'UTC', 'html', 1, 0)"
                ),
                {"i": i, "e": f"r{i}@example.org"},
            )
            conn.execute(
                text(
                    "INSERT INTO deliveries (id, subscriber_id, digest_date, status, picks, attempts, planned_at)"
                    " VALUES (:i, :i, '2026-11-02', 'sent', '[]', 1, '2026-11-02')"
                ),
                {"i": i},
            )
            conn.execute(
                text(
                    "INSERT INTO interactions (subscriber_id, paper_id, delivery_id, kind, created_at,"
                    " suspected_scanner) VALUES (:i, 1, :i, 'click', '2026-11-02', 0)"
                ),
                {"i": i},
            )
    command.upgrade(cfg, "head")
    with db.engine.begin() as conn:
        keys = [row[0] for row in conn.execute(text("SELECT link_key FROM subscribers ORDER BY id"))]
        assert len(keys) == 3 and len(set(keys)) == 3 and all(len(k) >= 12 for k in keys)
        assert conn.execute(text("SELECT count(*) FROM deliveries")).scalar() == 3
        assert conn.execute(text("SELECT count(*) FROM interactions")).scalar() == 3
        conn.execute(text("DELETE FROM interactions WHERE subscriber_id = 3"))
        conn.execute(text("DELETE FROM deliveries WHERE subscriber_id = 3"))
        conn.execute(text("DELETE FROM subscribers WHERE id = 3"))
        conn.execute(
            text(
                "INSERT INTO subscribers (email, status, created_at, token_version, link_key, topics,"
                " include_keywords, exclude_keywords, followed_authors, papers_per_email, frequency, weekly_day,"
                " send_hour, timezone, email_format, tracking_enabled, is_simulated) VALUES ('new@example.org',"
                " 'confirmed', '2026-11-03', 1, 'abcdefghijkl', '[]', '[]', '[]', '[]', 10, 'daily', 0, 7, 'UTC',"
                " 'html', 1, 0)"
            )
        )
        assert conn.execute(text("SELECT id FROM subscribers WHERE email = 'new@example.org'")).scalar() == 4
    db.dispose()
