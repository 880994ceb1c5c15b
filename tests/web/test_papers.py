"""A page per paper: /papers/<arXiv id>, or /papers/<id>-<slug> for a paper without one."""

from __future__ import annotations

import re

import pytest

from service.models import Paper
from tests.web.support import add_paper, path_of


def test_a_paper_with_an_arxiv_id_has_its_page_with_everything_we_know(client, web_rt):
    add_paper(
        web_rt,
        "Sparse <mixtures> & experts",
        url="https://arxiv.org/abs/2506.01234",
        arxiv_id="2506.01234",
        upvotes=1,
        github_repo="owner/moe",
        project_page="https://moe.example.org/",
        thumbnail="https://cdn.example.org/2506.01234.png",
        abstract="We route tokens to experts. " * 20,
        published_on=__import__("datetime").date(2025, 6, 1),
    )
    page = client.get("/papers/2506.01234")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Sparse &lt;mixtures&gt; &amp; experts</h1>" in text
    assert "Ada Lovelace, Alan Turing" in text and "arXiv:2506.01234" in text
    assert "Published 1 Jun 2025" in text and "Listed 3 Jun 2025" in text and "▲ 1 upvote<" in text
    for label, url in [
        ("Abstract", "https://arxiv.org/abs/2506.01234"),
        ("PDF", "https://arxiv.org/pdf/2506.01234"),
        ("Code", "https://github.com/owner/moe"),
        ("Project page", "https://moe.example.org/"),
    ]:
        assert re.search(rf'href="{re.escape(url)}"[^>]*>{label}</a>', text), label
    # a shared link previews: Open Graph, with the canonical address on our site
    assert '<meta property="og:title" content="Sparse &lt;mixtures&gt; &amp; experts">' in text
    assert '<meta property="og:url" content="https://paperboy.test/papers/2506.01234">' in text
    assert '<meta property="og:image" content="https://cdn.example.org/2506.01234.png">' in text
    description = re.search(r'<meta property="og:description" content="([^"]*)">', text).group(1)
    assert description.startswith("We route tokens") and len(description) <= 200 and description.endswith("…")
    assert '<link rel="canonical" href="https://paperboy.test/papers/2506.01234">' in text


def test_a_paper_without_an_arxiv_id_has_a_stable_slug(client, web_rt):
    paper_id = add_paper(web_rt, "Über Robots: Ça va?", url="https://arxiv.org/search/?query=x&searchtype=title")
    page = client.get(f"/papers/{paper_id}-uber-robots-ca-va")
    assert page.status_code == 200 and "Über Robots: Ça va?" in page.text
    assert "arxiv.org/search" not in page.text  # a search is not the paper: no link to it
    for other in (f"/papers/{paper_id}", f"/papers/{paper_id}-an-old-title"):  # one address per paper
        moved = client.get(other)
        assert moved.status_code == 301 and moved.headers["Location"] == f"/papers/{paper_id}-uber-robots-ca-va"


def test_a_slug_leads_to_the_arxiv_address_once_the_paper_has_one(client, web_rt):
    paper_id = add_paper(web_rt, "Late identity")
    with web_rt.db.session() as session:
        session.get(Paper, paper_id).arxiv_id = "2506.07777"
    moved = client.get(f"/papers/{paper_id}-late-identity")
    assert moved.status_code == 301 and moved.headers["Location"] == "/papers/2506.07777"


def test_old_style_arxiv_ids_have_pages_too(client, web_rt):
    add_paper(web_rt, "Strings", arxiv_id="hep-th/9901001")
    assert client.get("/papers/hep-th/9901001").status_code == 200


@pytest.mark.parametrize("key", ["2506.99999", "424242-nothing", "not a key", "../etc/passwd"])
def test_an_unknown_paper_is_a_friendly_404(client, web_rt, key):
    answer = client.get(f"/papers/{key}")
    assert answer.status_code == 404 and "Page not found" in answer.text


def test_trending_and_the_landing_page_link_to_paper_pages(client, web_rt):
    paper_id = add_paper(web_rt, "Linked from trending", url="https://example.org/elsewhere", upvotes=3)
    for path in ("/", "/trending"):
        text = client.get(path).text
        assert f'href="/papers/{paper_id}-linked-from-trending"' in text
        assert "▲ 3 upvotes" in text


def test_the_digest_web_view_links_to_paper_pages_inside_the_site(client, web_rt):
    from tests.web.support import add_delivery, add_subscriber, digest_path

    paper_id = add_paper(web_rt, "In a digest", url="https://example.org/in-a-digest")
    subscriber = add_subscriber(web_rt)
    page = client.get(digest_path(web_rt, add_delivery(web_rt, subscriber.id, [paper_id])))
    assert f'href="/papers/{paper_id}-in-a-digest"' in page.text
    assert '<header class="site">' in page.text and '<footer class="site">' in page.text
    # "My preferences" in the header opens this reader's own page, not the form that emails a link
    header = page.text.split('<header class="site">')[1].split("</header>")[0]
    own = re.search(r'href="([^"]+)">My preferences', header).group(1)
    assert own.startswith("/preferences/") and client.get(own).status_code == 200
    assert path_of(own) != "/preferences"
