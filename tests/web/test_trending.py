"""The public trending pages: the latest listing a source dated, with its real date, by its signals; never an
undated capture, never an archive ingested late, never a withdrawn paper (which is marked wherever shown)."""

from __future__ import annotations

import json
from pathlib import Path

from flask import render_template
from sqlalchemy import select

from service.ingest import ingest_bytes, ingest_targets
from service.models import Paper
from service.runtime import Runtime
from tests.ingest.helpers import SAMPLES

FEEDS = Path(__file__).parents[1] / "ingest" / "feeds"


def _top_titles(day_file: Path, n: int) -> list[str]:
    items = json.loads(day_file.read_text())
    items.sort(key=lambda item: -item["paper"]["upvotes"])
    return [" ".join(item["paper"]["title"].split()) for item in items[:n]]


def test_landing_shows_the_latest_dated_listing_with_its_real_date(client, web_rt: Runtime, shared_dir: Path) -> None:
    report = ingest_targets(web_rt, [str(shared_dir / "seeds"), str(shared_dir / "data")])
    assert report.new_papers > 700
    page = client.get("/").text
    assert "Trending on Jul 31, 2026" in page  # the API's latest day, not today, not a seed capture
    top = _top_titles(shared_dir / "data" / "hf-api" / "2026-07-31.json", 5)  # 145, 111, 109, 102, 79 upvotes
    assert all(title.replace("'", "&#39;") in page for title in top)  # the five shown, ranked by all signals
    with web_rt.db.session() as session:
        undated = session.scalars(select(Paper.title).where(Paper.date_basis == "first-seen")).all()
    assert undated and not any(title in page for title in undated)

    # an archive ingested later, and a fresh announcement feed nobody has voted on yet, leave the day in place
    ingest_targets(web_rt, [str(shared_dir / "cases" / "backfilled-archive"), str(FEEDS / "cs.LG.rss")])
    trending = client.get("/trending").text
    assert "Trending papers · Jul 31, 2026" in trending
    assert all(title.replace("'", "&#39;") in trending for title in top)
    assert "Sparse Placeholder Mixtures" not in trending and "Archived Placeholder" not in trending


def test_undated_captures_never_trend(client, web_rt: Runtime) -> None:
    ingest_targets(web_rt, [str(SAMPLES / "02_layout_a.txt"), str(SAMPLES / "04_layout_c.txt")])
    page = client.get("/").text
    assert "No papers yet today" in page and "Trending today" in page


def test_withdrawn_papers_leave_trending_and_are_marked_where_shown(client, app, web_rt: Runtime) -> None:
    day = (
        b'[{"paper": {"id": "2607.30001", "title": "A Loud Paper Later Withdrawn", "upvotes": 300},'
        b' "numComments": 4}, {"paper": {"id": "2607.30002", "title": "A Quiet Paper", "upvotes": 2}}]'
    )
    ingest_bytes(web_rt, day, "2026-07-28.json")
    assert "A Loud Paper Later Withdrawn" in client.get("/trending").text
    withdrawal = b"""<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom"><entry>
      <id>http://arxiv.org/abs/2607.30001v2</id><published>2026-07-27T10:00:00Z</published>
      <title>A Loud Paper Later Withdrawn</title><summary>This paper has been withdrawn by the authors.</summary>
      <arxiv:comment>This paper has been withdrawn by the authors</arxiv:comment></entry></feed>"""
    ingest_bytes(web_rt, withdrawal, "api.xml")
    page = client.get("/trending").text
    assert "A Quiet Paper" in page and "A Loud Paper Later Withdrawn" not in page
    with web_rt.db.session() as session:
        paper = session.scalars(select(Paper).where(Paper.arxiv_id == "2607.30001")).one()
    with app.test_request_context("/"):
        listed = app.jinja_env.get_template("web/_papers.html").module.paper_list([paper])
        alone = render_template("web/paper.html", paper=paper)
    assert 'class="badge withdrawn"' in str(listed) and "withdrawn by the authors" in str(listed)
    assert 'class="badge withdrawn"' in alone and "This paper has been withdrawn by the authors" in alone
