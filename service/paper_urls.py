"""Where a paper's links go: its abstract page, PDF, code and project page, from the stored paper only.

The tracked redirect (``/c/<token>/<resource>``), the email and the web pages all take destinations from here, so
a link can only ever lead to a plain http(s) URL that ingest stored for that paper, never to anything a request
carries (no open redirect) and never to ``javascript:`` or a URL with spaces or quotes.

Every paper also has a page of our own, ``/papers/<key>`` (``paper_path``): its arXiv id, or for a paper without
one a slug of its row id and title. A paper with no abstract page elsewhere (no arXiv id, no stored URL, or only
an arXiv *search*, which is not the paper) links there instead.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Protocol
from urllib.parse import urlsplit

_GITHUB_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_ARXIV_ID = re.compile(r"^[A-Za-z0-9./-]{1,64}$")
_SLUG_KEY = re.compile(r"^(\d+)(?:-[a-z0-9-]*)?$")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
SLUG_WORDS_CHARS = 60


class PaperLike(Protocol):
    arxiv_id: str | None
    url: str | None
    github_repo: str | None
    code_links: Any
    project_page: str | None


class PaperRow(Protocol):
    id: int
    title: str
    arxiv_id: str | None


def paper_key(paper: PaperRow) -> str:
    """The paper's name in our URLs: its arXiv id, else ``<row id>-<title words>`` (the id alone identifies it)."""
    if arxiv_id_ok(paper.arxiv_id) and not _SLUG_KEY.match(paper.arxiv_id or ""):
        return str(paper.arxiv_id)
    words = unicodedata.normalize("NFKD", paper.title or "").encode("ascii", "ignore").decode().lower()
    words = _NOT_SLUG.sub("-", words).strip("-")[:SLUG_WORDS_CHARS].rstrip("-")
    return f"{paper.id}-{words}" if words else str(paper.id)


def paper_path(paper: PaperRow) -> str:
    """The path of the paper's page on our site (``/papers/<key>``)."""
    return f"/papers/{paper_key(paper)}"


def parse_paper_key(key: str) -> tuple[str, str | int] | None:
    """``("id", row id)`` for a slug, ``("arxiv", id)`` for an arXiv id, None for neither."""
    slug = _SLUG_KEY.match(key)
    if slug:
        return "id", int(slug.group(1))
    return ("arxiv", key) if arxiv_id_ok(key) else None


def is_arxiv_search(url: str) -> bool:
    """An arXiv search or listing page: it finds papers but is not one."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return (host == "arxiv.org" or host.endswith(".arxiv.org")) and not parts.path.startswith(("/abs/", "/pdf/"))


def safe_url(url: str | None) -> str | None:
    """``url`` when it is a plain absolute http(s) URL, else None."""
    if not url:
        return None
    url = url.strip()
    if any(ch.isspace() or ch in "\"'<>\\" for ch in url):
        return None
    parts = urlsplit(url)
    return url if parts.scheme in {"http", "https"} and parts.netloc else None


def arxiv_id_ok(arxiv_id: str | None) -> bool:
    return bool(arxiv_id) and bool(_ARXIV_ID.match(arxiv_id or ""))


def abs_url(paper: PaperLike) -> str | None:
    """The paper's stored URL if safe (and not an arXiv search), else its arXiv abstract page, else None (the
    paper's own page on our site, ``paper_path``, is then where a click goes)."""
    url = safe_url(paper.url)
    if url and not is_arxiv_search(url):
        return url
    return f"https://arxiv.org/abs/{paper.arxiv_id}" if arxiv_id_ok(paper.arxiv_id) else None


def pdf_url(paper: PaperLike) -> str | None:
    return f"https://arxiv.org/pdf/{paper.arxiv_id}" if arxiv_id_ok(paper.arxiv_id) else None


def code_url(paper: PaperLike) -> str | None:
    """The paper's code: its GitHub repository, else the first safe code link ingest found."""
    repo = (paper.github_repo or "").strip()
    if repo:
        if _GITHUB_REPO.match(repo):
            return f"https://github.com/{repo}"
        if safe_url(repo):
            return repo
    for link in paper.code_links or []:
        candidate = link.get("url") if isinstance(link, dict) else link
        if isinstance(candidate, str) and safe_url(candidate):
            return candidate
    return None


def project_url(paper: PaperLike) -> str | None:
    return safe_url(paper.project_page)


RESOLVERS = {"abs": abs_url, "pdf": pdf_url, "code": code_url, "project": project_url}


def resource_url(paper: PaperLike, resource: str) -> str | None:
    """The destination of one of a paper's resources (``abs``, ``pdf``, ``code``, ``project``), or None."""
    resolver = RESOLVERS.get(resource)
    return resolver(paper) if resolver is not None else None
