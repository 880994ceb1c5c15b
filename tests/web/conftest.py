"""Web test fixtures: the app's runtime (same database and outbox as the test's ``runtime``)."""

from __future__ import annotations

import pytest

from service import get_runtime


@pytest.fixture
def web_rt(app):
    """The app's own runtime: same database file and outbox folder as the ``runtime`` fixture."""
    return get_runtime(app)
