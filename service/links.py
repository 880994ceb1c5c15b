"""Absolute URLs into the web app, built from ``BASE_URL`` and signed tokens.

Emails are rendered by workers outside any request, so links cannot come from ``url_for``; this module is the
one place that knows the public URL scheme. The web blueprints serve exactly these paths.

A digest carries ~40 of these links, so the per-paper ones (click, feedback) write their payload's JSON directly
(integers only, keys in sorted order: the same bytes ``compact_json`` gives) instead of through ``json.dumps``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.subscribers.tokens import Signer, make_token, signer


@dataclass(frozen=True)
class Links:
    base_url: str
    secret_key: str
    _root: str = field(init=False, repr=False, compare=False)  # ``base_url`` without its trailing slash
    _click: Signer = field(init=False, repr=False, compare=False)
    _feedback: Signer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_root", self.base_url.rstrip("/"))
        object.__setattr__(self, "_click", signer(self.secret_key, "click"))
        object.__setattr__(self, "_feedback", signer(self.secret_key, "feedback"))

    def _url(self, path: str) -> str:
        return self._root + path

    def _tok(self, purpose: str, **payload: int | str) -> str:
        return make_token(self.secret_key, purpose, payload)

    def confirm(self, subscriber_id: int, token_version: int) -> str:
        return self._url(f"/confirm/{self._tok('confirm', s=subscriber_id, v=token_version)}")

    def unsubscribe(self, subscriber_id: int, token_version: int) -> str:
        """Both the footer link (GET shows a page) and the RFC 8058 one-click POST target."""
        return self._url(f"/unsubscribe/{self._tok('unsubscribe', s=subscriber_id, v=token_version)}")

    def preferences(self, subscriber_id: int, token_version: int) -> str:
        return self._url(f"/preferences/{self._tok('preferences', s=subscriber_id, v=token_version)}")

    def click(self, delivery_id: int, paper_id: int, position: int) -> str:
        """A tracked paper link: the destination is looked up from the paper, never carried in the URL."""
        payload = '{"d":%d,"p":%d,"r":%d}' % (delivery_id, paper_id, position)  # noqa: UP031 - %d refuses non-numbers
        return f"{self._root}/c/{self._click.sign(payload)}"

    def feedback(self, delivery_id: int, paper_id: int, kind: str) -> str:
        """ "more" or "less" like this: the GET shows a confirm button, the POST records it."""
        if kind not in ("more", "less"):
            raise ValueError(f"feedback kind must be 'more' or 'less', not {kind!r}")
        payload = '{"d":%d,"k":"%s","p":%d}' % (delivery_id, kind, paper_id)  # noqa: UP031
        return f"{self._root}/feedback/{self._feedback.sign(payload)}"

    def digest(self, delivery_id: int) -> str:
        return self._url(f"/digest/{self._tok('digest', d=delivery_id)}")

    def feed(self, subscriber_id: int, token_version: int) -> str:
        return self._url(f"/feed/{self._tok('feed', s=subscriber_id, v=token_version)}.atom")

    def data_export(self, subscriber_id: int, token_version: int) -> str:
        return self._url(f"/my-data/{self._tok('data', s=subscriber_id, v=token_version)}")
