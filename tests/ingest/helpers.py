"""Small helpers for the ingest tests: a stable dump of what ingest stored, and the bundled sample pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from service.models import Paper, PaperSighting, RawPage
from service.runtime import Runtime

SAMPLES = Path(__file__).resolve().parents[2] / "service" / "samples" / "pages"


def snapshot(rt: Runtime) -> dict[str, Any]:
    """Every stored paper, sighting and raw page as plain values, for before/after comparisons."""
    with rt.db.session() as session:
        papers = [
            {c.name: getattr(p, c.name) for c in Paper.__table__.columns}
            for p in session.scalars(select(Paper).order_by(Paper.id))
        ]
        sightings = session.execute(
            select(
                PaperSighting.paper_id, PaperSighting.raw_page_id, PaperSighting.position, PaperSighting.upvotes
            ).order_by(PaperSighting.id)
        ).all()
        pages = session.execute(
            select(RawPage.id, RawPage.content_hash, RawPage.status, RawPage.error, RawPage.entries).order_by(
                RawPage.id
            )
        ).all()
    return {"papers": papers, "sightings": [tuple(s) for s in sightings], "pages": [tuple(p) for p in pages]}


def count(rt: Runtime, model: Any) -> int:
    with rt.db.session() as session:
        return session.scalar(select(func.count()).select_from(model))
