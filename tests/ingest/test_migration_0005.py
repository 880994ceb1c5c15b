"""Migration 0005 on a database with papers from before it: a paper that no dated page ever listed got the day it
was ingested as its listing date, and is marked ``first-seen`` for what that day was."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from service.db import Database, alembic_config


def test_upgrade_marks_papers_no_dated_page_listed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    command.upgrade(alembic_config(url), "0003")
    at = "2026-11-01 08:00:00"
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO raw_pages (id, content_hash, source, origin, content, size, status, entries,"
                " received_at, listing_date) VALUES (:id, :hash, 'hf-api', :origin, :content, 1, 'parsed', 1, :at,"
                " :listing)"
            ),
            [
                {
                    "id": 1,
                    "hash": "h1",
                    "origin": "2026-07-13.json",
                    "content": b"[]",
                    "at": at,
                    "listing": "2026-07-13",
                },
                {"id": 2, "hash": "h2", "origin": "capture.txt", "content": b"x", "at": at, "listing": None},
            ],
        )
        conn.execute(
            text(
                "INSERT INTO papers (id, title_key, title, abstract, authors, listing_date, first_seen_at,"
                " last_seen_at, upvotes, num_comments, code_links, ai_keywords)"
                " VALUES (:id, :key, 't', '', '[]', '2026-11-01', :at, :at, 0, 0, '[]', '[]')"
            ),
            [{"id": 1, "key": "k1", "at": at}, {"id": 2, "key": "k2", "at": at}],
        )
        conn.execute(
            text(
                "INSERT INTO paper_sightings (paper_id, raw_page_id, position, seen_at) VALUES (:paper, :page, 0, :at)"
            ),
            [{"paper": 1, "page": 1, "at": at}, {"paper": 2, "page": 2, "at": at}],
        )
    db.upgrade()
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, date_basis, withdrawn, arxiv_version FROM papers ORDER BY id")).all()
        retryable = conn.execute(text("SELECT DISTINCT retryable FROM raw_pages")).scalars().all()
    db.dispose()
    assert [tuple(r) for r in rows] == [(1, "listing", 0, None), (2, "first-seen", 0, None)]
    assert retryable == [0]
