"""The digest web view and the personal Atom feed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sqlalchemy import select

from service.models import Delivery, Interaction, Subscriber
from tests.web.support import add_delivery, add_paper, add_subscriber, digest_path, path_of, reader

ATOM = "{http://www.w3.org/2005/Atom}"


def atom(data: bytes) -> ET.Element:
    return ET.fromstring(data)  # noqa: S314 - our own response, parsed to prove it is well-formed Atom


def test_the_web_view_shows_the_delivered_digest_inside_the_site(client, web_rt):
    papers = [add_paper(web_rt, "Sparse <mixtures> & experts", url="https://example.org/moe")]
    subscriber = add_subscriber(web_rt)
    delivery = add_delivery(web_rt, subscriber.id, papers)
    page = client.get(digest_path(web_rt, delivery))
    assert page.status_code == 200
    assert "Sparse &lt;mixtures&gt; &amp; experts" in page.text
    assert "/c/" in page.text  # paper links stay tracked links
    assert '<header class="site">' in page.text and "paperboy.css" in page.text  # a page of the site
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_the_web_view_of_an_unsent_or_unknown_digest_is_404(client, web_rt):
    subscriber = add_subscriber(web_rt)
    with web_rt.db.session() as session:
        delivery = Delivery(subscriber_id=subscriber.id, digest_date=__import__("datetime").date(2025, 6, 4))
        session.add(delivery)
        session.flush()
        planned_id = delivery.id
    assert client.get(digest_path(web_rt, planned_id)).status_code == 404
    assert client.get(digest_path(web_rt, 99999)).status_code == 410  # gone: it opens nothing
    assert client.get("/digest/forged").status_code == 404


def test_the_feed_lists_the_picks_as_atom_entries(client, web_rt):
    first = add_paper(web_rt, "Paper & one", url="https://example.org/1", authors=["A. Author"])
    second = add_paper(web_rt, "Paper two", url="https://example.org/2")
    subscriber = add_subscriber(web_rt)
    delivery = add_delivery(web_rt, subscriber.id, [first, second])
    answer = client.get(path_of(web_rt.links.feed(reader(subscriber))))
    assert answer.status_code == 200 and answer.mimetype == "application/atom+xml"
    feed = atom(answer.data)
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["Paper & one", "Paper two"]
    link = entries[0].find(f"{ATOM}link").get("href")
    assert link.startswith("https://paperboy.test/c/")
    # the feed's links are the same tracked links: following one records a click and reaches the paper
    followed = client.get(path_of(link), headers={"User-Agent": "Mozilla/5.0 Firefox/127.0"})
    assert followed.headers["Location"] == "https://example.org/1"
    with web_rt.db.session() as session:
        assert session.scalar(select(Interaction.delivery_id)) == delivery


def test_the_feed_has_a_stable_id_and_its_own_address_as_self(client, web_rt, monkeypatch):
    from service import tokens

    paper = add_paper(web_rt, "Paper", url="https://example.org/p")
    subscriber = add_subscriber(web_rt)
    add_delivery(web_rt, subscriber.id, [paper])
    paths = []
    for now in (1_800_000_000.0, 1_800_000_100.0):  # two feed links, signed at different times
        monkeypatch.setattr(tokens.time, "time", lambda now=now: now)
        paths.append(path_of(web_rt.links.feed(reader(subscriber))))
    monkeypatch.undo()
    first_path, second_path = paths
    assert first_path != second_path
    first, second = atom(client.get(first_path).data), atom(client.get(second_path).data)
    assert first.findtext(f"{ATOM}id") == second.findtext(f"{ATOM}id")
    assert first.findtext(f"{ATOM}id").startswith("tag:paperboy.test,") and "/feed/" not in first.findtext(f"{ATOM}id")
    again = atom(client.get(first_path).data)  # the address a feed reader polls: the same self, every time
    selves = [f.find(f"{ATOM}link[@rel='self']").get("href") for f in (first, again)]
    assert selves == [f"https://paperboy.test{first_path}"] * 2
    related = first.find(f"{ATOM}entry/{ATOM}link[@rel='related']").get("href")
    assert related == f"https://paperboy.test/papers/{paper}-paper"


def test_the_feed_links_straight_to_papers_when_tracking_is_off(client, web_rt):
    paper = add_paper(web_rt, "Paper", url="https://example.org/p")
    subscriber = add_subscriber(web_rt, tracking_enabled=False)
    add_delivery(web_rt, subscriber.id, [paper])
    feed = atom(client.get(path_of(web_rt.links.feed(reader(subscriber)))).data)
    assert feed.find(f"{ATOM}entry/{ATOM}link").get("href") == "https://example.org/p"


def test_a_feed_link_stops_working_when_links_are_revoked(client, web_rt):
    subscriber = add_subscriber(web_rt)
    path = path_of(web_rt.links.feed(reader(subscriber)))
    assert client.get(path).status_code == 200
    with web_rt.db.session() as session:
        session.get(Subscriber, subscriber.id).token_version = 2
    assert client.get(path).status_code == 410
