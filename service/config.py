"""Settings: read once from the environment, each with a documented default.

Every process (web, worker, beat, CLI) builds the same ``Settings`` so that one
environment describes one deployment.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names the setting."""


def _default_instance_dir() -> Path:
    return Path(os.environ.get("PAPERBOY_INSTANCE_DIR", Path.cwd() / "instance")).resolve()


@dataclass(frozen=True)
class Settings:
    """The deployment's settings. Field names match the environment variables."""

    PAPERBOY_ENV: str = "development"
    INSTANCE_DIR: Path = field(default_factory=_default_instance_dir)
    DATABASE_URL: str = ""
    CELERY_BROKER_URL: str = ""
    CELERY_RESULT_BACKEND: str = ""
    REDIS_URL: str = ""
    EMAIL_BACKEND: str = "outbox"
    OUTBOX_DIR: Path | None = None
    SENDGRID_API_KEY: str = ""
    SENDGRID_API_HOST: str = "https://api.sendgrid.com"
    SENDGRID_WEBHOOK_PUBLIC_KEY: str = ""
    SENDGRID_CONCURRENCY: int = 8
    SECRET_KEY: str = ""
    BASE_URL: str = "http://localhost:5000"
    MAIL_FROM: str = "Paperboy <digest@paperboy.localhost>"
    POSTAL_ADDRESS: str = "Paperboy, 1 Example Street, 00000 Example City"
    MODEL_DIR: Path | None = None
    HF_API_BASE_URL: str = "https://huggingface.co"
    # The periodic fetch reads today's listing and re-reads this many days before it: listings gain papers after
    # their day (a late addition to yesterday's listing is news in today's digest window).
    FETCH_REREAD_DAYS: int = 2
    # arXiv categories whose daily announcement feeds the periodic fetch reads (``cs.LG,cs.CL``); empty: none.
    ARXIV_CATEGORIES: str = ""
    ARXIV_RSS_BASE_URL: str = "https://rss.arxiv.org"
    HTTP_TIMEOUT_S: float = 20.0
    INBOX_DIR: Path | None = None
    INGEST_MAX_PAGE_BYTES: int = 16 * 1024 * 1024
    PAPERS_PER_EMAIL: int = 10
    RATELIMIT_STORAGE_URI: str = ""
    # Proxies in front of the web app that set X-Forwarded-For/-Proto (0: none; the client is the peer address)
    TRUSTED_PROXIES: int = 0
    LOG_LEVEL: str = "INFO"
    # Celery on Redis: unacknowledged tasks come back after this long; must exceed any retry countdown.
    CELERY_VISIBILITY_TIMEOUT_S: int = 3600
    CELERY_KEY_PREFIX: str = ""  # prefix of every broker key (several deployments or test runs on one Redis)
    TASK_RETRY_BASE_S: float = 30.0  # first retry delay of a task after a transient error (then doubled)
    DIGEST_BATCH_SIZE: int = 500  # deliveries per send task
    DIGEST_CLAIM_LEASE_S: int = 60  # a claim not renewed for this long belongs to a dead worker (renewed every third)
    DIGEST_FANOUT_TIMEOUT_S: int = 6 * 3600  # how long ``paperboy send`` waits for the workers
    # Training learns "shown, not clicked" only from the last this many days of sends (clicks, more, less: always)
    TRAINING_IMPRESSION_DAYS: int = 30

    @classmethod
    def from_env(cls, overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``), then apply ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f.name)
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        known = {f.name for f in fields(cls)}
        values.update({k: v for k, v in (overrides or {}).items() if k in known})
        settings = cls(**values)
        return settings.resolved()

    def resolved(self) -> Settings:
        """Fill the defaults that depend on other settings and check consistency."""
        instance = Path(self.INSTANCE_DIR).resolve()
        changes: dict[str, Any] = {"INSTANCE_DIR": instance}
        if not self.DATABASE_URL:
            changes["DATABASE_URL"] = f"sqlite:///{instance / 'paperboy.db'}"
        changes["OUTBOX_DIR"] = Path(self.OUTBOX_DIR or instance / "outbox")
        changes["MODEL_DIR"] = Path(self.MODEL_DIR or instance / "models")
        changes["INBOX_DIR"] = Path(self.INBOX_DIR or instance / "inbox")
        if not self.RATELIMIT_STORAGE_URI:
            changes["RATELIMIT_STORAGE_URI"] = self.REDIS_URL or "memory://"
        if not self.CELERY_RESULT_BACKEND and self.CELERY_BROKER_URL:
            changes["CELERY_RESULT_BACKEND"] = self.CELERY_BROKER_URL
        if not self.SECRET_KEY:
            changes["SECRET_KEY"] = _secret_key_for(self.PAPERBOY_ENV, instance)
        if not 0 <= self.FETCH_REREAD_DAYS <= 31:
            raise ConfigError(f"FETCH_REREAD_DAYS must be between 0 and 31, not {self.FETCH_REREAD_DAYS}")
        bad = [c for c in _categories(self.ARXIV_CATEGORIES) if not _CATEGORY.fullmatch(c)]
        if bad:
            raise ConfigError(f"ARXIV_CATEGORIES: {bad[0]!r} is not an arXiv category (e.g. cs.LG, math.OC, hep-th)")
        if self.EMAIL_BACKEND not in {"outbox", "sendgrid"}:
            raise ConfigError(f"EMAIL_BACKEND must be 'outbox' or 'sendgrid', not {self.EMAIL_BACKEND!r}")
        if self.EMAIL_BACKEND == "sendgrid" and not self.SENDGRID_API_KEY:
            raise ConfigError("EMAIL_BACKEND=sendgrid needs SENDGRID_API_KEY")
        return replace(self, **changes)

    @property
    def is_production(self) -> bool:
        return self.PAPERBOY_ENV == "production"

    @property
    def arxiv_categories(self) -> tuple[str, ...]:
        """ARXIV_CATEGORIES as a tuple, in the order given, without repeats."""
        return tuple(dict.fromkeys(_categories(self.ARXIV_CATEGORIES)))

    @property
    def runs_tasks_in_process(self) -> bool:
        """Without a broker every task runs in the calling process (the embedded default)."""
        return not self.CELERY_BROKER_URL


_CATEGORY = re.compile(r"[a-z][a-z-]{0,20}(?:\.[A-Za-z][A-Za-z-]{0,10})?")


def _categories(raw: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", raw or "") if part]


def _secret_key_for(env: str, instance: Path) -> str:
    """No constant fallback: production refuses, development keeps a generated key in the instance folder."""
    if env == "production":
        raise ConfigError("SECRET_KEY must be set when PAPERBOY_ENV=production")
    key_file = instance / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    tmp = key_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(key)
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, key_file)  # atomic: the first process to write wins, the rest read its key
    except FileExistsError:
        key = key_file.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return key


def _coerce(name: str, annotation: Any, raw: str) -> Any:
    kind = str(annotation)
    try:
        if "int" in kind:
            return int(raw)
        if "float" in kind:
            return float(raw)
        if "Path" in kind:
            return Path(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind}") from exc
    return raw
