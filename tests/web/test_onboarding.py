"""The welcome page: search recent papers, pick a few, and the first digest is ranked from them."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from service.models import Interaction, Paper
from tests.web.support import add_paper, add_subscriber, csrf_from, outbox_messages, path_of, text_part

THEME = re.compile(r"video|visual|vision|multimodal|image", re.IGNORECASE)  # what the three picked papers are about
HF_DAYS = [f"2026-07-{d}" for d in (20, 21, 22, 23, 24, 27, 28, 29, 30, 31)]


def papers_path(rt, subscriber) -> str:
    return path_of(rt.links.preferences(subscriber)) + "/papers"


def interactions(rt) -> int:
    with rt.db.session() as s:
        return s.scalar(select(func.count()).select_from(Interaction))


@pytest.fixture
def recent(web_rt):
    day = dt.date(2026, 7, 30)
    ids = {
        "asr": add_paper(web_rt, "Streaming speech recognition with tiny transducers", upvotes=4, listing_date=day),
        "tts": add_paper(web_rt, "Expressive speech synthesis from text", upvotes=9, listing_date=day),
        "graph": add_paper(web_rt, "Graph transformers for molecules", upvotes=30, listing_date=day),
        "old": add_paper(web_rt, "An old speech paper", listing_date=dt.date(2026, 5, 1)),
    }
    return ids


def test_get_searches_recent_papers_and_changes_nothing(client, web_rt, recent):
    reader = add_subscriber(web_rt)
    page = client.get(papers_path(web_rt, reader) + "?q=speech")
    assert page.status_code == 200
    assert "Streaming speech recognition" in page.text and "Expressive speech synthesis" in page.text
    assert "Graph transformers" not in page.text and "An old speech paper" not in page.text  # not recent
    assert page.text.index("Expressive speech") < page.text.index("Streaming speech")  # most upvoted first
    everything = client.get(papers_path(web_rt, reader))
    assert "Graph transformers" in everything.text  # no query: the most upvoted recent papers
    assert interactions(web_rt) == 0


def test_a_query_is_escaped_and_like_wildcards_are_literal(client, web_rt, recent):
    reader = add_subscriber(web_rt)
    page = client.get(papers_path(web_rt, reader) + "?q=%3Cscript%3E%25")
    assert page.status_code == 200 and "<script>%" not in page.text and "No recent paper matches" in page.text


def test_post_records_picks_once_and_folds_them_in(client, web_rt, recent):
    from service.recommend import train_model

    assert train_model(web_rt)["status"] == "ready"
    reader = add_subscriber(web_rt)
    path = papers_path(web_rt, reader)
    token = csrf_from(client.get(path).text)
    form = {"csrf_token": token, "paper_id": [str(recent["asr"]), str(recent["tts"])]}
    done = client.post(path, data=form)
    assert done.status_code == 200 and "Saved 2 new picks" in done.text
    again = client.post(path, data=form)
    assert "already saved" in again.text
    with web_rt.db.session() as s:
        rows = s.execute(select(Interaction.paper_id, Interaction.kind).where(Interaction.subscriber_id == reader.id))
        assert sorted(rows) == sorted([(recent["asr"], "more"), (recent["tts"], "more")])
    assert list(web_rt.settings.MODEL_DIR.glob("v*/foldin.npz"))  # learned at once, not at the nightly training


def test_bad_picks_save_nothing_and_say_why(client, web_rt, recent):
    reader = add_subscriber(web_rt)
    path = papers_path(web_rt, reader)
    token = csrf_from(client.get(path).text)
    for bad, says in (([str(recent["asr"]), "999999"], "no paper with id 999999"), (["x1"], "not a paper id"),
                      ([], "pick at least one paper")):  # fmt: skip
        page = client.post(path, data={"csrf_token": token, "paper_id": bad})
        assert page.status_code == 400 and says in page.text
    assert interactions(web_rt) == 0


def test_post_needs_csrf_and_a_valid_token(client, web_rt, recent):
    reader = add_subscriber(web_rt)
    assert client.post(papers_path(web_rt, reader), data={"paper_id": str(recent["asr"])}).status_code == 400
    assert client.get("/preferences/not-a-token/papers").status_code == 404
    assert interactions(web_rt) == 0


def test_confirmation_and_preferences_pages_link_here(client, web_rt):
    reader = add_subscriber(web_rt)
    path = path_of(web_rt.links.preferences(reader))
    assert f'href="{path}/papers"' in client.get(path).text
    with client.application.test_request_context():
        confirmed = client.application.jinja_env.get_template("web/confirmed.html").render(preferences_url=path)
    assert f'href="{path}/papers"' in confirmed
    assert client.get(f"{path}/papers").status_code == 200


def test_first_digest_after_three_picks_is_about_them_and_says_why(client, web_rt, shared_dir):
    """Ingest real dated listings, pick three video papers, send the digest of the last listing day."""
    from service.digest import send_due_digests
    from service.ingest import ingest_targets
    from service.recommend import train_model

    report = ingest_targets(web_rt, [str(shared_dir / "data" / "hf-api" / f"{d}.json") for d in HF_DAYS])
    assert not report.to_json()["failed"]
    assert train_model(web_rt)["status"] == "ready"  # last night's training: no reader has clicked anything
    reader = add_subscriber(web_rt, "new@example.com", papers_per_email=6)
    control = add_subscriber(web_rt, "control@example.com", papers_per_email=6)
    path = papers_path(web_rt, reader)
    found = client.get(path + "?q=video")
    chosen = re.findall(r'name="paper_id" value="(\d+)"', found.text)
    with web_rt.db.session() as s:  # three video papers of the days before the digest
        earlier = [
            p
            for p in chosen
            if s.get(Paper, int(p)).listing_date < dt.date(2026, 7, 30)
            and "video" in s.get(Paper, int(p)).title.lower()
        ][:3]
        titles = [" ".join(s.get(Paper, int(p)).title.split()) for p in earlier]
    assert len(earlier) == 3
    client.post(path, data={"csrf_token": csrf_from(found.text), "paper_id": earlier})

    sent = send_due_digests(web_rt, dt.date(2026, 7, 31))
    assert sent["sent"] == 2 and sent["failed"] == 0
    mail = {m["To"]: " ".join(text_part(m).split()) for m in outbox_messages(web_rt)}
    with web_rt.db.session() as s:
        from service.models import Delivery

        digests = dict(s.execute(select(Delivery.subscriber_id, Delivery.picks)).all())
        title = {p["paper_id"]: s.get(Paper, p["paper_id"]).title for picks in digests.values() for p in picks}
    themed = {sid: [p for p in picks if p["section"] == "for_you" and THEME.search(title[p["paper_id"]])]
              for sid, picks in digests.items()}  # fmt: skip
    picks = digests[reader.id]
    personal = [p for p in picks if p["section"] == "for_you"]
    assert len(picks) == 6
    assert len(themed[reader.id]) > len(personal) / 2  # visibly about the picked papers: their theme is in titles
    assert len(themed[reader.id]) > len(themed[control.id])  # the reader who picked nothing gets the day's mix
    because = [p for p in themed[reader.id] if p["reason"].startswith("because you read")]
    assert because and all(any(t[:40] in p["reason"] for t in titles) for p in because)
    body = mail["new@example.com"]
    assert because[0]["reason"] in body  # the email says why
