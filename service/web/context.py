"""The running app's runtime, as the views reach it: settings, the database, links and the task dispatcher."""

from __future__ import annotations

from flask import Flask, current_app

from service.config import Settings
from service.db import Database
from service.runtime import Runtime


def get_runtime(app: Flask | None = None) -> Runtime:
    """The app's runtime (``create_app`` makes it); inside an app context when ``app`` is omitted."""
    return (app or current_app).extensions["paperboy"]


def get_db(app: Flask | None = None) -> Database:
    return get_runtime(app).db


def get_settings(app: Flask | None = None) -> Settings:
    return get_runtime(app).settings
