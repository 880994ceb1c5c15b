"""The database: one engine per process, sessions as short transactions, Alembic for the schema.

SQLite by default (a file in the instance folder), PostgreSQL in production through ``DATABASE_URL``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import ColumnElement, Engine, any_, create_engine, event, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The database errors a later attempt can get past (a lost or refused connection): the one list every retry uses.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)


def on_postgresql(session: Session) -> bool:
    """Whether ``session`` talks to PostgreSQL: the hot statements have a faster form there."""
    return session.get_bind().dialect.name == "postgresql"


def id_in(session: Session, column: InstrumentedAttribute, values: Sequence[int]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``= ANY(:array)``, one bound array instead of one parameter per value."""
    if on_postgresql(session):
        return column == any_(literal(list(values), ARRAY(column.type)))
    return column.in_(values)


def normalise_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and use the psycopg 3 driver for both."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """An engine with the settings each backend needs to be safe under several processes."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


class Database:
    """Owns the engine and the session factory of one process."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with Alembic (what ``paperboy init`` runs)."""
        command.upgrade(alembic_config(self.url), revision)

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg
