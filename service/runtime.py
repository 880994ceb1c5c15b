"""The runtime every entry point shares: settings, the database and the link builder of one process.

The CLI, the Celery tasks and the web app each build one ``Runtime`` and pass it to domain code, so domain
functions never read the environment themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.config import Settings
from service.db import Database
from service.links import Links


@dataclass
class Runtime:
    settings: Settings
    db: Database
    links: Links

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        return cls(settings, Database(settings.DATABASE_URL), Links(settings.BASE_URL, settings.SECRET_KEY))

    @classmethod
    def from_env(cls, overrides: dict[str, Any] | None = None) -> Runtime:
        return cls.from_settings(Settings.from_env(overrides))

    def close(self) -> None:
        self.db.dispose()
