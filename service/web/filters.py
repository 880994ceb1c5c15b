"""Jinja filters and globals of the web pages: counts in words, dates as people write them, paper pages."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from service.paper_urls import paper_path
from service.wording import plural


def day(value: dt.date | dt.datetime | None) -> str:
    """``3 Jun 2025``; empty for no date."""
    if value is None:
        return ""
    return f"{value.day} {value.strftime('%b %Y')}"


def install(app: Flask) -> None:
    app.add_template_filter(plural, "plural")
    app.add_template_filter(day, "day")
    app.add_template_global(paper_path, "paper_path")
