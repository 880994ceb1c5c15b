"""Digests assembled from per-batch pieces are byte for byte the digests the templates render whole."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.digest.assemble import DigestAssembler
from service.digest.build import digest_context, load_papers, render_loaded
from service.digest.render import EmailTemplates
from service.models import Delivery, Subscriber
from tests.digest.conftest import DAY, add_papers, add_subscriber

REASONS = [
    "because you read “<b>Attention</b> & friends”",
    "",  # no reason at all still renders the card
    "matches your topic “e\u0301lan”",  # a combining accent right after the quote: NFC must come out the same
    "line one\nline two\r\n\u202eflipped",
]


def _deliveries(rt, *, n_subscribers: int = 4, **prefs) -> list[int]:
    """Deliveries of overlapping picks in different orders and sections, hostile paper text included."""
    with rt.db.session() as session:
        papers = add_papers(session, 6, hostile=True)
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
    assert len(assembler._cards) <= 2 * 2 * len(papers)  # per paper, format and reason-or-none; not per digest


@pytest.mark.parametrize("html", [True, False])
def test_assembled_digests_equal_whole_renders(runtime, html):
    ids = _deliveries(runtime)
    pairs = list(_both(runtime, ids, html=html))
    assert len(pairs) == len(ids)
    for whole, pieces in pairs:
        assert pieces.subject == whole.subject
        assert pieces.text == whole.text
        assert pieces.html == whole.html
    whole, _ = pairs[0]
    assert ("&lt;script&gt;" in whole.html) if html else whole.html is None  # the hostile text was there


def test_assembled_digests_equal_whole_renders_without_tracking(runtime):
    ids = _deliveries(runtime, tracking_enabled=False)
    for whole, pieces in _both(runtime, ids):
        assert pieces == whole
        assert "https://arxiv.org/abs/" in pieces.html


def test_a_batch_renders_with_the_assembler_what_the_web_view_shows(runtime, monkeypatch):
    """``render_loaded`` with an assembler (the sender) and without (the web view) give the same digest."""
    from service.subscribers import tokens

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

    from service.digest.render import TEMPLATE_DIR

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
