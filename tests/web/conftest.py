"""Web test fixtures: the app's runtime (same database and outbox as the test's ``runtime``), and for the browser
tests the app on a real HTTP server with headless Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from service import create_app
from service.web.context import get_runtime
from tests.web.browser_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP_AGENT,
    Site,
    papers_server,
    serve_in_thread,
)


@pytest.fixture
def web_rt(app):
    """The app's own runtime: same database file and outbox folder as the ``runtime`` fixture."""
    return get_runtime(app)


@pytest.fixture
def site(sqlite_template: Path, tmp_path: Path) -> Iterator[Site]:
    """The app on a real threaded HTTP server (its own port) plus a second server for the papers' pages."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's browser (apt-get install -y chromium)")
    db_path = tmp_path / "paperboy.db"
    shutil.copyfile(sqlite_template, db_path)
    holder: dict[str, Any] = {}
    app_server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    base_url = f"http://127.0.0.1:{app_server.port}"
    holder["app"] = create_app(
        {
            "INSTANCE_DIR": tmp_path / "instance",
            "DATABASE_URL": f"sqlite:///{db_path}",
            "SECRET_KEY": "browser-test-secret-key",
            "BASE_URL": base_url,
            "EMAIL_BACKEND": "outbox",
            "CELERY_BROKER_URL": "",
        }
    )
    papers = papers_server()
    serve_in_thread(app_server)
    yield Site(base_url, get_runtime(holder["app"]), f"http://127.0.0.1:{papers.server_address[1]}")
    app_server.shutdown()
    papers.shutdown()
    get_runtime(holder["app"]).close()


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(user_agent=DESKTOP_AGENT, viewport={"width": 420, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
