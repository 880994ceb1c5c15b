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
