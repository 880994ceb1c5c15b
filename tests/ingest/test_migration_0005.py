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
    with db.engine.begin() as conn:
        for page_id, listing in ((1, "'2026-07-13'"), (2, "NULL")):
            conn.execute(
                text(
                    "INSERT INTO raw_pages (id, content_hash, source, origin, content, size, status, entries,"
                    f" received_at, listing_date) VALUES ({page_id}, 'h{page_id}', 'hf-api', 'p{page_id}', x'00', 1,"
                    f" 'parsed', 1, '2026-11-01 08:00:00', {listing})"
                )
            )
        for paper_id, page_id in ((1, 1), (2, 2)):
            conn.execute(
                text(
                    "INSERT INTO papers (id, title_key, title, abstract, authors, listing_date, first_seen_at,"
                    " last_seen_at, upvotes, num_comments, code_links, ai_keywords) VALUES"
                    f" ({paper_id}, 'k{paper_id}', 't', '', '[]', '2026-11-01', '2026-11-01 08:00:00',"
                    " '2026-11-01 08:00:00', 0, 0, '[]', '[]')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO paper_sightings (paper_id, raw_page_id, position, seen_at)"
                    f" VALUES ({paper_id}, {page_id}, 0, '2026-11-01 08:00:00')"
                )
            )
    db.upgrade()
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, date_basis, withdrawn, arxiv_version FROM papers ORDER BY id")).all()
        retryable = conn.execute(text("SELECT DISTINCT retryable FROM raw_pages")).scalars().all()
    db.dispose()
    assert [tuple(r) for r in rows] == [(1, "listing", 0, None), (2, "first-seen", 0, None)]
    assert retryable == [0]
