"""The runtime every entry point shares: settings, the database, the link builder and the task dispatcher.

The CLI, the Celery tasks and the web app each build one ``Runtime`` and pass it to domain code, so domain
functions never read the environment themselves, and never import the workers: they send tasks by name through
``dispatcher`` (``service.queue``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.config import Settings
from service.db import Database
from service.links import Links
from service.queue import Dispatcher


@dataclass
class Runtime:
    settings: Settings
    db: Database
    links: Links
    dispatcher: Dispatcher = field(default=None)  # type: ignore[assignment] - filled from the settings

    def __post_init__(self) -> None:
        if self.dispatcher is None:
            self.dispatcher = Dispatcher(self.settings)

    @classmethod
    def from_settings(cls, settings: Settings, *, impatient: bool = False) -> Runtime:
        """``impatient``: a web process, whose requests must not wait on a broker that is down."""
        links = Links(settings.BASE_URL, settings.SECRET_KEY)
        return cls(settings, Database(settings.DATABASE_URL), links, Dispatcher(settings, impatient=impatient))

    @classmethod
    def from_env(cls, overrides: dict[str, Any] | None = None) -> Runtime:
        return cls.from_settings(Settings.from_env(overrides))

    def close(self) -> None:
        self.dispatcher.close()
        self.db.dispose()
