"""Digests assembled from per-batch pieces are byte for byte the digests the templates render whole."""

from __future__ import annotations

import json
import random
import unicodedata

import pytest
from markupsafe import escape
from sqlalchemy import select

from service.digest.assemble import DigestAssembler, Form, json_chars, slot
from service.digest.build import digest_context, load_papers, render_loaded
from service.mail.render import _CONTROL, EmailTemplates, clean_text, tidy_text
from service.models import Delivery, Paper, Subscriber
from tests.digest.conftest import DAY, add_papers, add_subscriber

REASONS = [
    "because you read “<b>Attention</b> & friends”",
    "",  # no reason at all still renders the card
    "matches your topic “e\u0301lan”",  # a combining accent right after the quote: NFC must come out the same
    "line one\nline two\r\n\u202eflipped",
    "\u0301starts with a combining accent",  # joins the text before it: the card must be cleaned as a whole
    "\n\n\n\nblank lines first",  # a run of blank lines inside a card: the body must be tidied as a whole
    "ends in blank lines\n\n\n",
    "\u200bvanishing\u200b\u0301 space",  # removing a control character lets the accent compose
    'back\\slash "quotes" \U0001f680',  # escaped by JSON
    "trending: 99 upvotes",  # repeats the card's upvotes: shown as "trending today"
]


def _deliveries(rt, *, n_subscribers: int = 4, **prefs) -> list[int]:
    """Deliveries of overlapping picks in different orders and sections, hostile paper text included."""
    with rt.db.session() as session:
        papers = add_papers(session, 6, hostile=True)
        for i, paper in enumerate(session.get(Paper, pid) for pid in papers):
            if i % 2:  # an arXiv id (PDF link) and a thumbnail; every third a project page; one only an arXiv search
                paper.arxiv_id, paper.thumbnail = f"2506.{i:05d}", f"https://cdn.example.org/thumbs/{i}.png?a=1&b=2"
            if i % 3 == 0:
                paper.project_page = f"https://project.example.org/{i}"
            if i == 4:
                paper.url = "https://arxiv.org/search/?query=Paper+4&searchtype=title"
        ids = []
        for s in range(n_subscribers):
            sid = add_subscriber(session, f"reader{s}+<x>&@example.com", **prefs)
            chosen = papers[s % 3 : s % 3 + 3 + s % 2]
            picks = [
                {
                    "paper_id": pid,
                    "score": 1.0,
                    "reason": REASONS[(i + s) % len(REASONS)],
                    "section": "trending" if i == len(chosen) - 1 and s % 2 else "for_you",
                    "position": i + 1,
                }
                for i, pid in enumerate(chosen)
            ]
            delivery = Delivery(subscriber_id=sid, digest_date=DAY, status="planned", picks=picks)
            session.add(delivery)
            session.flush()
            ids.append(delivery.id)
        return ids


def _both(rt, ids: list[int], *, html: bool = True):
    templates = EmailTemplates()
    assembler = DigestAssembler(templates)
    with rt.db.session() as session:
        deliveries = list(session.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id)))
        subscribers = {s.id: s for s in session.scalars(select(Subscriber))}
        papers = load_papers(session, deliveries)
        for delivery in deliveries:
            subscriber = subscribers[delivery.subscriber_id]
            context = digest_context(rt, delivery, subscriber, papers)
            whole = templates.render("daily-digest", context, html=html)
            pieces = assembler.render(context, html=html)
            yield whole, pieces
    assert assembler.rendered_whole == 0  # every digest was assembled from pieces
    assert assembler.cards_rendered <= 2 * 2 * len(papers)  # per paper, format and reason-or-none; not per digest


@pytest.mark.parametrize("html", [True, False])
def test_assembled_digests_equal_whole_renders(runtime, html):
    ids = _deliveries(runtime, n_subscribers=len(REASONS))
    pairs = list(_both(runtime, ids, html=html))
    assert len(pairs) == len(ids)
    for whole, pieces in pairs:
        assert pieces.subject == whole.subject
        assert pieces.text == whole.text
        assert pieces.html == whole.html
        # the bodies' JSON built from pieces is what json.dumps makes of them (the text's, unless it was tidied whole)
        literals = dict(pieces.json_literals)
        assert set(literals) <= {pieces.text, pieces.html} and (pieces.html in literals) == html
        assert all(literal == json.dumps(string) for string, literal in literals.items())
    assert any(whole.text in dict(pieces.json_literals) for whole, pieces in pairs)
    whole, _ = pairs[0]
    assert ("&lt;script&gt;" in whole.html) if html else whole.html is None  # the hostile text was there
    everything = "".join(w.html or w.text for w, _ in pairs)
    for resource in ("pdf", "code", "project"):  # every kind of tracked link was in some card
        assert f"/{resource}" in everything and "https://paperboy.test/c/" in everything
    assert "arXiv:2506.00001" in everything and ("https://cdn.example.org/thumbs/" in everything) == html


def test_assembled_digests_equal_whole_renders_without_tracking(runtime):
    ids = _deliveries(runtime, tracking_enabled=False)
    for whole, pieces in _both(runtime, ids):
        assert pieces == whole
        assert "https://arxiv.org/abs/" in pieces.html


def test_a_batch_renders_with_the_assembler_what_the_web_view_shows(runtime, monkeypatch):
    """``render_loaded`` with an assembler (the sender) and without (the web view) give the same digest."""
    from service import tokens

    # links carry their signing second: both renders must sign within the same one
    monkeypatch.setattr(tokens.time, "time", lambda: 1_800_000_000.0)
    ids = _deliveries(runtime)
    assembler = DigestAssembler(EmailTemplates())
    with runtime.db.session() as session:
        delivery = session.get(Delivery, ids[1])
        subscriber = session.get(Subscriber, delivery.subscriber_id)
        papers = load_papers(session, [delivery])
        fast = render_loaded(runtime, delivery, subscriber, papers, assembler=assembler)
        whole = render_loaded(runtime, delivery, subscriber, papers)
    assert fast.html == whole.html and fast.subject == whole.subject and fast.headers == whole.headers
    assert fast.text == whole.text


def test_a_template_that_computes_with_a_readers_value_falls_back_to_whole_rendering(tmp_path, runtime):
    """Placeholders cannot stand in for a value the template does arithmetic on: the digest is still right."""
    import shutil

    from service.mail.render import TEMPLATE_DIR

    shutil.copytree(TEMPLATE_DIR, tmp_path / "email")
    body = tmp_path / "email" / "daily-digest" / "body.txt"
    body.write_text(body.read_text().replace("{% block content %}", "{% block content %}{{ paper_count * 2 }} papers"))
    templates = EmailTemplates(tmp_path / "email")
    ids = _deliveries(runtime, n_subscribers=1)
    with runtime.db.session() as session:
        delivery = session.get(Delivery, ids[0])
        subscriber = session.get(Subscriber, delivery.subscriber_id)
        context = digest_context(runtime, delivery, subscriber, load_papers(session, [delivery]))
    assembler = DigestAssembler(templates)
    pieces = assembler.render(context)
    assert assembler.rendered_whole == 1
    assert pieces == templates.render("daily-digest", context)
    assert f"{2 * context['paper_count']} papers" in pieces.text


def test_card_forms_are_rendered_once_per_process_not_once_per_batch(runtime):
    ids = _deliveries(runtime)
    templates = EmailTemplates()
    with runtime.db.session() as session:
        deliveries = list(session.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id)))
        subscribers = {s.id: s for s in session.scalars(select(Subscriber))}
        papers = load_papers(session, deliveries)
        contexts = [digest_context(runtime, d, subscribers[d.subscriber_id], papers) for d in deliveries]
    first, second = DigestAssembler(templates), DigestAssembler(templates)
    assert [first.render(c) for c in contexts] == [second.render(c) for c in contexts]
    assert first.cards_rendered > 0 and second.cards_rendered == 0
    assert DigestAssembler(EmailTemplates()).render(contexts[0]) == first.render(contexts[0])  # other templates


# --- the shortcuts, against doing it the long way ------------------------------------------------------------

# Pieces of text that exercise every rule: blank lines, Unicode whitespace at the ends, combining accents that
# compose with what precedes them, control characters whose removal lets them compose, CRLF, JSON escapes.
TOKENS = ["a", "e", "\u0301", "\u200b", "\n", "\n\n", "\r\n", " ", "\t", "\u3000", "é", "“", "\x00", '"', "\\", "1"]


LINK = "https://paperboy.test/c/eyJkIjoxMn0.tro8w0.x-_y"


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 5)))


def _form(rng: random.Random) -> tuple[Form, list[str]]:
    names = [f"v{i}" for i in range(rng.randint(0, 4))]
    rendered = _text(rng) + "".join(str(slot(name)) + _text(rng) for name in names)
    return Form(rendered, names), names


def _reference_clean(value: object) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", unicodedata.normalize("NFC", text))


@pytest.mark.parametrize(
    "value", [None, 0, -12, True, "", "plain https://x.test/a?b=1&c=2", "tab\there", "del\x7f", "e\u0301", "a\r\nb"]
)
def test_clean_text_skips_only_what_needs_no_cleaning(value):
    assert clean_text(value) == _reference_clean(value)


def test_a_text_body_tidied_from_pieces_is_the_body_tidied_whole():
    rng, fast = random.Random(7), 0
    for _ in range(5000):
        form, names = _form(rng)
        values = [_text(rng) for _ in names]
        whole = tidy_text(form.fill(values))
        tidied = form.fill_tidy(values, [json_chars(v) for v in values])
        if tidied is not None:
            fast += 1
            assert tidied == (whole, json_chars(whole))
    assert fast > 500


def test_a_card_that_joins_cleanly_is_clean_without_cleaning_it_again():
    rng, fast = random.Random(11), 0
    assembler = DigestAssembler(EmailTemplates())
    for _ in range(5000):
        form, names = _form(rng)
        raw = [
            rng.choice([_text(rng), rng.randint(0, 99), "https://paperboy.test/c/eyJkIjoxMn0.tro8w0.x-_y"])
            for _ in names
        ]
        shown = [assembler.shown(value) for value in raw]
        for value, (text, _, text_json, html, html_json) in zip(raw, shown, strict=True):
            assert (text, text_json) == (clean_text(value), json_chars(clean_text(value)))
            assert (html, html_json) == (str(escape(value)), json_chars(str(escape(value))))
        filled = form.fill([text for text, *_ in shown])
        assert form.fill_json([text_json for _, _, text_json, _, _ in shown]) == json_chars(filled)
        if form.joins_cleanly and all(joins for _, joins, *_ in shown):
            fast += 1
            assert clean_text(filled) == filled
    assert fast > 500
