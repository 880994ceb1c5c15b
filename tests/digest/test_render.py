"""The digest as a reader's mail client sees it: MIME structure, headers, both parts, hostile paper text."""

from __future__ import annotations

import email
import email.policy
import re

import pytest

from service.digest import render_delivery
from service.digest.build import render_loaded
from service.mail.message import BadAddress, outgoing, parse_single_address, sender_address
from service.mail.render import EmailTemplates, RenderedMessage
from service.models import Delivery, Paper, Subscriber
from service.tokens import read_token
from tests.digest.conftest import DAY, add_papers, add_subscriber


def _delivery(rt, *, hostile: bool = True, email_addr: str = "reader@example.com", **prefs) -> int:
    with rt.db.session() as session:
        paper_ids = add_papers(session, 4, hostile=hostile)
        sid = add_subscriber(session, email_addr, **prefs)
        picks = [
            {
                "paper_id": pid,
                "score": 1.0 - i / 10,
                "reason": f"Because you read about ranking & <retrieval> #{i}",
                "section": "trending" if i == 3 else "for_you",
                "position": i + 1,
            }
            for i, pid in enumerate(paper_ids)
        ]
        delivery = Delivery(subscriber_id=sid, digest_date=DAY, status="planned", picks=picks)
        session.add(delivery)
        session.flush()
        return delivery.id


def _mime(rt, delivery_id: int) -> email.message.EmailMessage:
    with rt.db.session() as session:
        delivery = session.get(Delivery, delivery_id)
        subscriber = session.get(Subscriber, delivery.subscriber_id)
        rendered = render_delivery(rt, session, delivery_id)
        html = subscriber.email_format != "text"
        if not html:
            papers = {p.id: p for p in session.query(Paper)}
            rendered = render_loaded(rt, delivery, subscriber, papers, html=False)
        msg = outgoing(rendered, to=subscriber.email, from_=rt.settings.MAIL_FROM, delivery_id=delivery_id)
    raw = msg.to_mime().as_bytes()
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_digest_is_multipart_alternative_with_text_then_html(runtime):
    parsed = _mime(runtime, _delivery(runtime, hostile=False))
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    for header in ("From", "To", "Subject", "Date", "Message-ID"):
        assert parsed[header], header
    assert parsed["To"] == "reader@example.com"
    assert parsed["Message-ID"].startswith("<") and parsed["Message-ID"].endswith(">")
    unsubscribe = parsed["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://paperboy.test/unsubscribe/") and unsubscribe.endswith(">")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = unsubscribe[1:-1].rsplit("/", 1)[-1]
    assert read_token(runtime.settings.SECRET_KEY, "unsubscribe", token)["s"] > 0


def test_digest_shows_picks_trending_and_footer(runtime):
    delivery_id = _delivery(runtime, hostile=False)
    parsed = _mime(runtime, delivery_id)
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Paper 1: learning to rank 1 things" in body
        assert "Author 1" in body
        assert "Abstract of paper 1" in body
        assert "99 upvotes" in body
        assert "https://github.com/" not in body  # the code link is tracked too: /c/<token>/code
        assert re.search(r"https://paperboy\.test/c/[\w.-]+/code\b", body)
        assert "https://paperboy.test/c/" in body  # tracked click links
        assert "https://paperboy.test/feedback/" in body
        assert "https://paperboy.test/preferences/" in body
        assert "https://paperboy.test/unsubscribe/" in body
        assert "https://paperboy.test/digest/" in body
        assert runtime.settings.POSTAL_ADDRESS in body
    assert "TRENDING TODAY" in text and "Trending today" in html
    assert "javascript:" not in html and "javascript:" not in text  # an unsafe code link is dropped
    assert "Because you read about ranking &amp; &lt;retrieval&gt; #0" in html
    assert "Because you read about ranking & <retrieval> #0" in text


def test_hostile_paper_text_stays_text_and_injects_no_header(runtime):
    parsed = _mime(runtime, _delivery(runtime, hostile=True))
    assert parsed["Bcc"] is None and "evil@example.com" not in str(parsed["To"])
    subject = parsed["Subject"]
    assert "\n" not in subject and "\r" not in subject
    assert subject.startswith('Paperboy · Tue 3 Jun: <script>alert("x")</script> Bounds & ') and len(subject) <= 80
    html = parsed.get_body(("html",)).get_content()
    text = parsed.get_body(("plain",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(" in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "Ada &lt;Lovelace&gt;" in html
    assert "\\alpha &lt; \\beta" in html
    assert '<script>alert("x")</script>' in text  # plain text shows the title as written, unescaped
    assert "$\\alpha < \\beta$" in text and "&lt;" not in text and "&amp;" not in text
    assert "数学 \U0001f680" in text
    assert "\x00" not in text and "\u202e" not in text and "\u202e" not in html
    assert "Bcc: evil@example.com" not in text.splitlines()  # the CRLF in the title became a space


def test_text_only_subscribers_get_no_html_part(runtime):
    parsed = _mime(runtime, _delivery(runtime, hostile=False, email_format="text"))
    assert parsed.get_content_type() == "text/plain"
    assert "Paper 0" in parsed.get_content()


def test_click_tracking_opt_out_links_straight_to_the_paper(runtime):
    parsed = _mime(runtime, _delivery(runtime, hostile=False, tracking_enabled=False))
    html = parsed.get_body(("html",)).get_content()
    text = parsed.get_body(("plain",)).get_content()
    assert 'href="https://arxiv.org/abs/2506.00001"' in html
    assert 'href="https://github.com/owner/repo"' in html and "Code: https://github.com/owner/repo" in text
    assert "https://paperboy.test/c/" not in html and "https://paperboy.test/c/" not in text


def test_css_is_inlined_once_when_the_template_loads_not_per_message(runtime):
    templates = EmailTemplates()
    context = {"email": "a@example.com", "confirm_url": "https://paperboy.test/confirm/x", "postal_address": "1 St"}
    first = templates.render("confirm-subscription", context)
    loaded = templates.loader.inlined
    for _ in range(5):
        again = templates.render("confirm-subscription", context)
    assert templates.loader.inlined == loaded > 0
    assert again.html == first.html
    assert 'class="button"' in first.html and "style=" in first.html and "background-color: #0b5cad" in first.html
    assert "prefers-color-scheme: dark" in first.html  # the dark-mode rules stay in a <style> block
    assert 'name="color-scheme"' in first.html


@pytest.mark.parametrize("bad", ["a@example.com\r\nBcc: evil@example.com", "a@example.com, b@example.com", "nobody"])
def test_addresses_that_could_inject_headers_are_refused(bad):
    with pytest.raises(BadAddress):
        parse_single_address(bad)
    for _ in range(2):  # the sender's parse is cached, its refusal is not
        with pytest.raises(BadAddress):
            sender_address(bad)
        with pytest.raises(BadAddress):
            outgoing(RenderedMessage("s", "t", None), to="a@example.com", from_=bad)


# --- what each paper shows, and how the email counts ----------------------------------------------------------


def _digest_of(rt, papers: list[dict], *, reasons: list[str] | None = None, positions=None, **prefs):
    """A planned digest of ``papers`` (Paper fields), the last one in the trending section; its MIME message."""
    with rt.db.session() as session:
        ids = []
        for i, fields in enumerate(papers):
            paper = Paper(listing_date=DAY, **{"title": f"Paper {i}", "title_key": f"p{i}", **fields})
            session.add(paper)
            session.flush()
            ids.append(paper.id)
        sid = add_subscriber(session, prefs.pop("email", "reader@example.com"), **prefs)
        picks = [
            {
                "paper_id": pid,
                "reason": (reasons or [""] * len(ids))[i],
                "section": "trending" if i == len(ids) - 1 and i else "for_you",
                "position": (positions or list(range(1, len(ids) + 1)))[i],
            }
            for i, pid in enumerate(ids)
        ]
        delivery = Delivery(subscriber_id=sid, digest_date=DAY, status="planned", picks=picks)
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
    parsed = _mime(rt, delivery_id)
    html_part = parsed.get_body(("html",))
    return parsed, parsed.get_body(("plain",)).get_content(), html_part.get_content() if html_part else ""


def test_counts_agree_in_number(runtime):
    _, text, html = _digest_of(runtime, [{"upvotes": 1, "author_count": 1}, {"upvotes": 2, "authors": ["A. One"]}])
    for body in (text, html):
        assert "▲ 1 upvote" in body and "1 upvotes" not in body
        assert "1 author" in body and "1 authors" not in body
        assert "▲ 2 upvotes" in body


def test_a_reason_that_repeats_the_upvotes_is_not_said_twice(runtime):
    _, text, html = _digest_of(runtime, [{"upvotes": 2}], reasons=["trending: 2 upvotes"])
    for body in (text, html):
        assert body.count("2 upvotes") == 1 and "trending today" in body


def test_the_subject_separates_brand_and_date_and_fits_a_phone(runtime):
    long_title = "A Very Long Title About Attention, Diffusion and Everything Else That Runs Past Any Inbox " * 2
    parsed, _, _ = _digest_of(runtime, [{"title": long_title}] + [{}] * 4)
    subject = parsed["Subject"]
    assert subject.startswith("Paperboy · Tue 3 Jun: A Very Long Title") and subject.endswith("… and 4 more")
    assert len(subject) <= 80


def test_the_plain_text_numbers_papers_as_shown(runtime):
    _, text, _ = _digest_of(runtime, [{}, {}, {}, {}], positions=[7, 3, 9, 1])  # stored positions are link data
    numbers = re.findall(r"^(\d+)\. Paper (\d)$", text.replace("\r\n", "\n"), flags=re.M)
    assert numbers == [("1", "0"), ("2", "1"), ("3", "2"), ("4", "3")]
    assert text.index("TRENDING TODAY") < text.index("4. Paper 3")


def test_each_paper_shows_its_arxiv_id_thumbnail_and_tracked_links(runtime):
    rich = {
        "arxiv_id": "2506.01234",
        "url": "https://arxiv.org/abs/2506.01234",
        "thumbnail": "https://cdn.example.org/2506.01234.png",
        "github_repo": "owner/repo",
        "project_page": "https://project.example.org/",
        "authors": ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"],
    }
    _, text, html = _digest_of(runtime, [rich])
    for body in (text, html):
        assert "arXiv:2506.01234" in body and "Ada Lovelace, Alan Turing, Grace Hopper et al. (4 authors)" in body
        for resource in ("pdf", "code", "project"):  # one token per paper, a path per resource
            assert re.search(rf"https://paperboy\.test/c/[\w.-]+/{resource}\b", body), resource
        assert "arxiv.org" not in body and "github.com" not in body and "project.example.org" not in body
    image = re.search(r"<img [^>]+>", html).group(0)
    assert 'src="https://cdn.example.org/2506.01234.png"' in image
    assert 'width="240"' in image and 'height="126"' in image and 'alt="Preview of “Paper 0”"' in image
    assert "<img" not in text and "cdn.example.org" not in text

    rich.update(title_key="another paper", arxiv_id="2506.01235")
    _, text, html = _digest_of(runtime, [rich], tracking_enabled=False, email="other@example.com")  # straight links
    for body in (text, html):
        assert "https://arxiv.org/pdf/2506.01235" in body and "https://github.com/owner/repo" in body
        assert "https://project.example.org/" in body and "https://paperboy.test/c/" not in body


def test_a_paper_without_an_arxiv_id_links_to_its_page_here_not_to_a_search(runtime):
    search = "https://arxiv.org/search/?query=Only+a+title&searchtype=title"
    _, text, html = _digest_of(runtime, [{"title": "Only a title", "url": search}], tracking_enabled=False)
    for body in (text, html):
        assert "arxiv.org/search" not in body and "PDF" not in body
        assert re.search(r"https://paperboy\.test/papers/\d+-only-a-title\b", body)
