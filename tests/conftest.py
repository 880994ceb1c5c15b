"""Shared fixtures: a migrated database per test (SQLite, and PostgreSQL for storage tests), the Flask app,
the real Redis, and the path of ``../shared``.

PostgreSQL and Redis are the machine's real servers (127.0.0.1:5432 database ``test``, 127.0.0.1:6379). A test
that needs one and cannot reach it fails with a message saying so; it is never skipped silently.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from service.db import Database
from service.models import Base
from service.runtime import Runtime

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERBOY_SHARED_DIR", REPO.parent / "shared"))
PG_ADMIN_URL = os.environ.get("PAPERBOY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PAPERBOY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the repo: the real pages and data the tests read (never copied into the repo)."""
    if not (SHARED / "seeds").is_dir():
        pytest.fail(f"../shared not found at {SHARED}: CI clones the repo with shared/ beside it")
    return SHARED


# --- databases ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once with Alembic; every test gets a copy of this file."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A PostgreSQL database of this test session's own, migrated with Alembic, dropped at the end."""
    name = f"paperboy_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - the message must say what is missing
        pytest.fail(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({exc.__class__.__name__}: {exc})")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    db = Database(url)
    db.upgrade()
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def _sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "paperboy.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


def _runtime(url: str, tmp_path: Path, **overrides: object) -> Runtime:
    settings = {
        "INSTANCE_DIR": tmp_path / "instance",
        "DATABASE_URL": url,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "BASE_URL": "https://paperboy.test",
        "CELERY_BROKER_URL": "",
        "EMAIL_BACKEND": "outbox",
    }
    settings.update(overrides)
    return Runtime.from_env(settings)


@pytest.fixture
def runtime(sqlite_template: Path, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on a fresh migrated SQLite database in a temporary instance folder."""
    rt = _runtime(_sqlite_url(sqlite_template, tmp_path), tmp_path)
    yield rt
    rt.close()


@pytest.fixture
def pg_runtime(pg_database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on this session's PostgreSQL database, emptied after the test."""
    rt = _runtime(pg_database_url, tmp_path)
    _truncate_all(rt.db)
    yield rt
    _truncate_all(rt.db)
    rt.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_runtime(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> Iterator[Runtime]:
    """The same storage test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        rt = _runtime(_sqlite_url(sqlite_template, tmp_path), tmp_path)
        yield rt
        rt.close()
    else:
        url = request.getfixturevalue("pg_database_url")
        rt = _runtime(url, tmp_path)
        _truncate_all(rt.db)
        yield rt
        _truncate_all(rt.db)
        rt.close()


# --- web ----------------------------------------------------------------------------------------------------


@pytest.fixture
def app(runtime: Runtime):
    """The Flask app on the test's SQLite database; CSRF stays on (tests post the token like a browser)."""
    from service import create_app

    settings = runtime.settings
    flask_app = create_app(
        {
            "INSTANCE_DIR": settings.INSTANCE_DIR,
            "DATABASE_URL": settings.DATABASE_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "BASE_URL": settings.BASE_URL,
            "TESTING": True,
        }
    )
    yield flask_app
    flask_app.extensions["paperboy"].close()


@pytest.fixture
def client(app):
    return app.test_client()


# --- redis --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"Redis not reachable at {REDIS_URL} ({exc.__class__.__name__}: {exc})")
    return REDIS_URL


# --- the mail provider --------------------------------------------------------------------------------------


@pytest.fixture
def sink():
    """A local HTTP server speaking SendGrid's v3 API (``tools/sendgrid_sink.py``), for the whole test."""
    from tools.sendgrid_sink import SendGridSink

    with SendGridSink(api_key="SG.test-key") as s:
        yield s
