"""Absolute URLs into the web app, built from ``BASE_URL`` and signed tokens.

Emails are rendered by workers outside any request, so links cannot come from ``url_for``; this module is the one
place that knows the public URL scheme. The web blueprints serve exactly these paths.

Every link carries the reader's ``link_key`` (see ``service.tokens``), so it opens only the account or
the delivery it was issued for. A paper in a digest gets ONE token (``pick``), shared by all of its links: the
tracked abstract, PDF, code and project links (``/c/<token>[/<resource>]``) and the "more"/"less like this" buttons
(``/feedback/<token>/<kind>``). A digest shows a dozen papers with up to six links each, so this is one HMAC per
paper instead of one per link; its payload's JSON is written directly (integers and a checked key, keys in sorted
order: the same bytes ``compact_json`` gives).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from service.tokens import Signer, checked_link_key, make_token, signer

# The resources a tracked paper link can open; the destination always comes from the stored paper.
RESOURCES = ("abs", "pdf", "code", "project")


class Reader(Protocol):
    """Whatever names a subscriber in a link: a ``Subscriber`` row or a row of its columns."""

    id: int
    token_version: int
    link_key: str


@dataclass(frozen=True)
class PickLinks:
    """The links of one paper in one digest, all under one token."""

    token: str
    root: str

    @property
    def url(self) -> str:
        """The tracked link to the paper's abstract page."""
        return f"{self.root}/c/{self.token}"

    def resource(self, name: str) -> str:
        """The tracked link to one of the paper's ``RESOURCES``."""
        if name not in RESOURCES:
            raise ValueError(f"resource must be one of {', '.join(RESOURCES)}, not {name!r}")
        return self.url if name == "abs" else f"{self.root}/c/{self.token}/{name}"

    def feedback(self, kind: str) -> str:
        """ "more" or "less" like this: the GET shows a confirm button, the POST records it."""
        if kind not in ("more", "less"):
            raise ValueError(f"feedback kind must be 'more' or 'less', not {kind!r}")
        return f"{self.root}/feedback/{self.token}/{kind}"


@dataclass(frozen=True)
class Links:
    base_url: str
    secret_key: str
    _root: str = field(init=False, repr=False, compare=False)  # ``base_url`` without its trailing slash
    _pick: Signer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_root", self.base_url.rstrip("/"))
        object.__setattr__(self, "_pick", signer(self.secret_key, "pick"))

    @property
    def root(self) -> str:
        return self._root

    def _reader_token(self, purpose: str, reader: Reader) -> str:
        payload = {"k": reader.link_key, "s": reader.id, "v": reader.token_version}
        return make_token(self.secret_key, purpose, payload)

    def confirm(self, reader: Reader) -> str:
        return f"{self._root}/confirm/{self._reader_token('confirm', reader)}"

    def unsubscribe(self, reader: Reader) -> str:
        """Both the footer link (GET shows a page) and the RFC 8058 one-click POST target."""
        return f"{self._root}/unsubscribe/{self._reader_token('unsubscribe', reader)}"

    def preferences(self, reader: Reader) -> str:
        return f"{self._root}/preferences/{self._reader_token('preferences', reader)}"

    def feed(self, reader: Reader) -> str:
        return f"{self._root}/feed/{self._reader_token('feed', reader)}.atom"

    def data_export(self, reader: Reader) -> str:
        return f"{self._root}/my-data/{self._reader_token('data', reader)}"

    def digest(self, delivery_id: int, link_key: str) -> str:
        token = make_token(self.secret_key, "digest", {"d": delivery_id, "k": link_key})
        return f"{self._root}/digest/{token}"

    def pick(self, delivery_id: int, paper_id: int, position: int, link_key: str) -> PickLinks:
        """The links of one paper in one digest: the destination is looked up from the paper, never carried."""
        payload = '{"d":%d,"k":"%s","p":%d,"r":%d}' % (  # noqa: UP031 - %d refuses anything but numbers
            delivery_id, checked_link_key(link_key), paper_id, position,
        )  # fmt: skip
        return PickLinks(self._pick.sign(payload), self._root)
