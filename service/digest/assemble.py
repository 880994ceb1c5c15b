"""Digests at batch speed: Jinja renders each paper's card and each digest layout once per batch, and every
digest of the batch is assembled from those pieces with only its reader's values filled in.

The templates stay the single source of the markup. A card depends on its paper (title, authors, summary,
upvotes, code link) and on five values of the reader's (position, reason and three signed links); the layout
around the cards depends only on how many picks and trending papers there are. So each is rendered once with
unique placeholders standing in for the reader's values, the output is split at the placeholders, and a digest
is the pieces joined with its reader's values escaped exactly as Jinja would (HTML: ``markupsafe.escape``;
text: the text environment's ``finalize``). The result is byte for byte what rendering the templates whole gives
(``tests/digest/test_assemble.py``), at a fraction of the cost: rendering was the largest cost of sending.

Anything the placeholders cannot stand in for (a template that computes with a reader's value) makes the
assembler render that digest whole instead, logged once.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from service.digest.render import EmailTemplates, RenderedMessage, clean_text, one_line, tidy_text

log = logging.getLogger(__name__)

MESSAGE = "daily-digest"
# A reader's values in one card, and in the layout around the cards; everything else is the same for every reader.
PER_PICK = ("position", "reason", "url", "more_url", "less_url")
PER_DIGEST = (
    "email",
    "digest_date",
    "preheader",
    "top_title",
    "paper_count",
    "web_view_url",
    "preferences_url",
    "unsubscribe_url",
    "subject",
)
_READER_PICK = frozenset(PER_PICK)
_READER_DIGEST = frozenset({*PER_DIGEST, "picks", "trending"})

# Private-use characters around a random name: no paper or reader text contains them by chance, HTML escaping
# and the text finalizer leave them alone.
_OPEN = f"\ue000{secrets.token_hex(8)}:"
_CLOSE = "\ue001"
_SLOT = re.compile(re.escape(_OPEN) + r"([A-Za-z0-9_]+)" + _CLOSE)


class PlaceholderUsed(TypeError):
    """A template did more with a reader's value than print it: that digest is rendered whole instead."""


def _refuse(name: str):  # noqa: ANN202 - a method
    def method(self, *args: object, **kwargs: object):  # noqa: ANN202, ARG001
        raise PlaceholderUsed(f"a template used {name} on a reader's value")

    return method


class _Placeholder(Markup):
    """Stands in for a reader's value: it can only be printed (``__html__``, ``str``). Anything else a template
    might do with it (test it, measure it, slice, compare, concatenate, multiply, call a string method) raises,
    because the result would be computed from the placeholder rather than from the value."""

    __slots__ = ()

    def __str__(self) -> str:
        return str.__str__(self)

    __hash__ = str.__hash__


for _name in (
    "__len__", "__bool__", "__iter__", "__getitem__", "__contains__", "__eq__", "__ne__", "__lt__", "__le__",
    "__gt__", "__ge__", "__add__", "__radd__", "__mul__", "__rmul__", "__mod__", "__rmod__", "__int__",
    "__float__", "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find",
    "format", "format_map", "index", "join", "ljust", "lower", "lstrip", "partition", "replace", "rfind",
    "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip",
    "striptags", "swapcase", "title", "translate", "unescape", "upper", "zfill",
):  # fmt: skip
    setattr(_Placeholder, _name, _refuse(_name))


def slot(name: str) -> Markup:
    return _Placeholder(f"{_OPEN}{name}{_CLOSE}")  # noqa: S704 - our own placeholder, no outside text


class Form:
    """Rendered output split at its placeholders: literal, name, literal, ..., literal."""

    __slots__ = ("literals", "names")

    def __init__(self, rendered: str, allowed: Sequence[str]) -> None:
        parts = _SLOT.split(rendered)
        self.literals: tuple[str, ...] = tuple(parts[0::2])
        self.names: tuple[str, ...] = tuple(parts[1::2])
        unknown = set(self.names) - set(allowed)
        if unknown or any(_OPEN in literal for literal in self.literals):
            raise ValueError(f"the template changed a placeholder: {sorted(unknown) or 'mangled'}")

    def fill(self, values: Mapping[str, str]) -> str:
        literals = self.literals
        out = [literals[0]]
        for i, name in enumerate(self.names, 1):
            out.append(values[name])
            out.append(literals[i])
        return "".join(out)


def _html_value(value: Any) -> str:
    return str(escape(value))


class DigestAssembler:
    """Renders the digests of one batch; not shared between threads (its caches are plain dicts)."""

    def __init__(self, templates: EmailTemplates, message: str = MESSAGE) -> None:
        self.templates = templates
        self.message = message
        self._cards: dict[tuple, Form] = {}
        self._layouts: dict[tuple, tuple[Form, Form | None]] = {}
        self._subjects: dict[tuple, str] = {}
        self.rendered_whole = 0  # digests the pieces could not make (see ``PlaceholderUsed``)

    def render(
        self, context: dict[str, Any], *, html: bool = True, headers: dict[str, str] | None = None
    ) -> RenderedMessage:
        """The digest of ``context`` (as built by ``build.digest_context``), as ``EmailTemplates.render`` makes it."""
        try:
            return self._assemble(context, html=html, headers=headers)
        except (TypeError, ValueError, KeyError) as exc:
            self.rendered_whole += 1
            if self.rendered_whole == 1:
                log.warning("digest templates cannot be assembled from pieces (%s); rendering them whole", exc)
            return self.templates.render(self.message, context, html=html, headers=headers)

    # --- assembling ---------------------------------------------------------------------------------------

    def _assemble(self, context: dict[str, Any], *, html: bool, headers: dict[str, str] | None) -> RenderedMessage:
        picks, trending = context["picks"], context["trending"]
        subject = self._subject(context)
        layout_text, layout_html = self._layout(context, len(picks), len(trending), html)
        cards = list(picks) + list(trending)

        values = {name: clean_text(context[name]) for name in PER_DIGEST if name != "subject"}
        values["subject"] = clean_text(subject)
        for i, pick in enumerate(cards):
            form = self._card(pick, html=False)
            values[f"card{i}"] = clean_text(form.fill({n: clean_text(pick[n]) for n in PER_PICK}))
        text = tidy_text(layout_text.fill(values))

        body_html = None
        if layout_html is not None:
            values = {name: _html_value(context[name]) for name in PER_DIGEST if name != "subject"}
            values["subject"] = _html_value(subject)
            for i, pick in enumerate(cards):
                form = self._card(pick, html=True)
                values[f"card{i}"] = form.fill({n: _html_value(pick[n]) for n in PER_PICK})
            body_html = layout_html.fill(values)
        return RenderedMessage(subject=subject, text=text, html=body_html, headers=dict(headers or {}))

    def _subject(self, context: dict[str, Any]) -> str:
        key = (context["top_title"], context["paper_count"], context["date_label"])
        subject = self._subjects.get(key)
        if subject is None:
            template = self.templates.text.get_template(f"{self.message}/subject.txt")
            subject = self._subjects[key] = one_line(template.render(context))
        return subject

    def _card(self, pick: dict[str, Any], *, html: bool) -> Form:
        """One paper's card with the reader's values left open (a truthy stand-in for a non-empty reason)."""
        key = (html, bool(pick["reason"]), *(v for k, v in pick.items() if k not in _READER_PICK))
        form = self._cards.get(key)
        if form is None:
            shown = dict(pick)
            shown.update({name: slot(name) for name in PER_PICK if name != "reason" or pick["reason"]})
            if html:
                rendered = self.templates.html.get_template(f"{self.message}/_pick.html").render(pick=shown)
            else:
                rendered = self.templates.text.get_template(f"{self.message}/_pick.txt").module.paper(shown)
            form = self._cards[key] = Form(str(rendered), PER_PICK)
        return form

    def _layout(self, context: dict[str, Any], n_picks: int, n_trending: int, html: bool) -> tuple[Form, Form | None]:
        key = (n_picks, n_trending, html, *(v for k, v in context.items() if k not in _READER_DIGEST))
        forms = self._layouts.get(key)
        if forms is None:
            names = [*PER_DIGEST, *(f"card{i}" for i in range(n_picks + n_trending))]
            shown = dict(context)
            shown.update({name: slot(name) for name in PER_DIGEST})
            shown["picks"] = [{"card": slot(f"card{i}")} for i in range(n_picks)]
            shown["trending"] = [{"card": slot(f"card{n_picks + i}")} for i in range(n_trending)]
            text = self.templates.text.get_template(f"{self.message}/body.txt").render(shown)
            body_html = self.templates.html.get_template(f"{self.message}/body.html").render(shown) if html else None
            forms = self._layouts[key] = (Form(text, names), Form(body_html, names) if body_html is not None else None)
        return forms
