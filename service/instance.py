"""Self-contained instance folders: a folder the demo made holds its own settings (database, outbox, address), so
``paperboy --instance FOLDER …`` uses them whatever the environment says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEMO_MARKER = "paperboy-demo.json"
DEFAULT_PORT = 5000


def demo_settings(folder: Path, base_url: str) -> dict[str, Any]:
    """Everything inside ``folder``, whatever the environment says: no broker, outbox delivery, SQLite."""
    folder = folder.resolve()
    return {
        "INSTANCE_DIR": folder,
        "DATABASE_URL": f"sqlite:///{folder / 'paperboy.db'}",
        "OUTBOX_DIR": folder / "outbox",
        "MODEL_DIR": folder / "models",
        "INBOX_DIR": folder / "inbox",
        "CELERY_BROKER_URL": "",
        "EMAIL_BACKEND": "outbox",
        "PAPERBOY_ENV": "development",
        "SECRET_KEY": "",
        "BASE_URL": base_url,
    }


def demo_overrides(folder: Path) -> dict[str, Any] | None:
    """The demo's settings when ``folder`` is a demo's folder (it holds ``DEMO_MARKER``), else None."""
    marker = folder / DEMO_MARKER
    if not marker.is_file():
        return None
    try:
        base_url = str(json.loads(marker.read_text(encoding="utf-8"))["base_url"])
    except (OSError, ValueError, KeyError, TypeError):
        base_url = demo_base_url(DEFAULT_PORT)
    return demo_settings(folder, base_url)


def demo_base_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"
