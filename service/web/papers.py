"""A page per paper, ``/papers/<arXiv id>`` (or ``/papers/<id>-<slug>`` for a paper without one): what it is,
who wrote it, when it was listed, how popular it is, and every link we know for it, with Open Graph tags so a
shared link previews. Public: no reader's token, nothing tracked."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from sqlalchemy import select

from service.models import Paper
from service.paper_urls import RESOLVERS, paper_key, paper_path, parse_paper_key, resource_url, safe_url
from service.web.context import get_db, get_settings
from service.wording import ellipsize

bp = Blueprint("papers", __name__)

RESOURCE_LABELS = {"abs": "Abstract", "pdf": "PDF", "code": "Code", "project": "Project page"}
DESCRIPTION_CHARS = 200


def find_paper(key: str) -> Paper | None:
    """The paper a ``/papers/<key>`` URL names, or None."""
    parsed = parse_paper_key(key)
    if parsed is None:
        return None
    kind, value = parsed
    with get_db().session() as session:
        if kind == "id":
            return session.get(Paper, value)
        return session.scalar(select(Paper).where(Paper.arxiv_id == value))


def paper_links(paper: Paper) -> list[tuple[str, str]]:
    """(label, URL) of each of the paper's resources we know, in a fixed order."""
    found = ((RESOURCE_LABELS[name], resource_url(paper, name)) for name in RESOLVERS)
    return [(label, url) for label, url in found if url]


@bp.get("/papers/<path:key>")
def paper_page(key: str):
    paper = find_paper(key)
    if paper is None:
        abort(404, description="We have no paper under that name. A link copied from an email may be cut off.")
    canonical = paper_key(paper)
    if key != canonical:  # an old slug, or a paper that has an arXiv id now: one address per paper
        return redirect(url_for("papers.paper_page", key=canonical), code=301)
    summary = " ".join((paper.ai_summary or paper.abstract or "").split())
    description = ellipsize(summary, DESCRIPTION_CHARS)
    return render_template(
        "web/paper.html",
        paper=paper,
        links=paper_links(paper),
        description=description,
        canonical_url=get_settings().BASE_URL.rstrip("/") + paper_path(paper),
        image_url=safe_url(paper.thumbnail),
    )
