"""Digests at batch speed: Jinja renders each paper's card and each digest layout once per batch, and every
digest of the batch is assembled from those pieces with only its reader's values filled in.

The templates stay the single source of the markup. A card depends on its paper (title, authors, summary,
upvotes, which links it has) and on the reader's values (``PER_PICK``: number, position, reason, links); the layout
around the cards depends only on how many picks and trending papers there are. So each is rendered once with
unique placeholders standing in for the reader's values, the output is split at the placeholders, and a digest
is the pieces joined with its reader's values escaped exactly as Jinja would (HTML: ``markupsafe.escape``;
text: the text environment's ``finalize``). The result is byte for byte what rendering the templates whole gives
(``tests/digest/test_assemble.py``), at a fraction of the cost: rendering was the largest cost of sending.

Anything the placeholders cannot stand in for (a template that computes with a reader's value) makes the
assembler render that digest whole instead, logged once.

What would still cost a pass over the whole digest is done on the pieces instead, each once per batch, with the
whole-digest pass kept as the fallback wherever a reader's value could make the shortcut differ: the text
finalizer's cleaning of each card (``Form.joins_cleanly``), ``tidy_text`` over the text body
(``Form.fill_tidy``), and the JSON escaping of both bodies for the SendGrid request
(``RenderedMessage.json_literals``). Card forms depend only on their paper, so they are kept across batches.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from jinja2 import Template
from markupsafe import Markup, escape

from service.mail.render import (
    EmailTemplates,
    RenderedMessage,
    clean_text,
    collapse_blank_lines,
    is_plain,
    one_line,
    tidy_text,
)

log = logging.getLogger(__name__)

MESSAGE = "daily-digest"
# A reader's values in one card, and in the layout around the cards; everything else is the same for every reader.
PER_PICK = ("number", "position", "reason", "url", "pdf_url", "code_url", "project_url", "more_url", "less_url")
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
# Everything ``subject.txt`` reads: a batch renders each different subject once.
SUBJECT_KEYS = ("subject_title", "paper_count", "subject_date")
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
    """Rendered output split at its placeholders: literal, name, literal, ..., literal.

    ``fill`` takes the values in the order of the names the form was made with (``allowed``). Filled with the
    values' ``json_chars`` instead (``fill_json``), it gives the output's ``json_chars``: JSON escapes each
    character on its own, so the literals are escaped once per batch, not once per digest.
    """

    __slots__ = ("_get", "_joined", "_joined_json", "_tidied", "joins_cleanly", "literals", "names", "used")

    def __init__(self, rendered: str, allowed: Sequence[str]) -> None:
        parts = _SLOT.split(rendered)
        self.literals: tuple[str, ...] = tuple(parts[0::2])
        self.names: tuple[str, ...] = tuple(parts[1::2])
        self.used = frozenset(self.names)
        unknown = set(self.names) - set(allowed)
        if unknown or any(_OPEN in literal for literal in self.literals):
            raise ValueError(f"the template changed a placeholder: {sorted(unknown) or 'mangled'}")
        self._get = _getter([list(allowed).index(name) for name in self.names])
        self._joined: list[str] = list(parts)  # the literals in place; the values go in between
        self._joined_json: list[str] = [json_chars(part) for part in parts]
        self._tidied: dict[tuple[int, int], tuple[str, str] | None] = {}
        # Clean text stays clean with clean values in the slots if nothing after a slot starts with a character
        # that Unicode normalisation could combine with what precedes it (no ASCII character combines).
        self.joins_cleanly = all(clean_text(lit) == lit for lit in self.literals) and all(
            not lit or lit[0].isascii() for lit in self.literals[1:]
        )

    def fill(self, values: Sequence[str]) -> str:
        joined = self._joined.copy()
        joined[1::2] = self._get(values)
        return "".join(joined)

    def fill_json(self, values_json: Sequence[str]) -> str:
        """``json_chars(self.fill(values))``, given ``json_chars`` of the values."""
        joined = self._joined_json.copy()
        joined[1::2] = self._get(values_json)
        return "".join(joined)

    def fill_tidy(self, values: Sequence[str], values_json: Sequence[str]) -> tuple[str, str] | None:
        """``tidy_text(self.fill(values))`` and its ``json_chars``, from literals tidied once per batch.

        None (tidy the whole instead) when a value could run into the blank lines around it: one that is empty,
        starts with a newline or holds a run of blank lines itself. Any other value ends in at most two
        newlines, which only join the run of newlines the next literal starts with.
        """
        plain = self._get(values)
        joined, joined_json = self._joined.copy(), self._joined_json.copy()
        joined[1::2] = plain
        joined_json[1::2] = self._get(values_json)
        newlines = 0
        for i in range(len(self.literals)):
            if i:
                value = plain[i - 1]
                if not value or value[0] == "\n" or "\n\n\n" in value:
                    return None
                newlines = 2 if value.endswith("\n\n") else 1 if value.endswith("\n") else 0
            tidied = self._tidied_literal(i, newlines)
            if tidied is None:
                return None
            joined[2 * i], joined_json[2 * i] = tidied
        return "".join(joined), "".join(joined_json)

    def _tidied_literal(self, i: int, newlines: int) -> tuple[str, str] | None:
        """Literal ``i`` as ``tidy_text`` leaves it after a value ending in ``newlines`` newlines, with its
        ``json_chars``; None if stripping the text's ends could reach past it (a blank first or last literal)."""
        key = (i, newlines)
        if key not in self._tidied:
            text = collapse_blank_lines("\n" * newlines + self.literals[i])[newlines:]
            first, last = i == 0, i == len(self.literals) - 1
            if (first or last) and not text.strip():
                self._tidied[key] = None
            else:
                text = text.lstrip() if first else text
                text = text.rstrip() + "\n" if last else text
                self._tidied[key] = (text, json_chars(text))
        return self._tidied[key]


def json_chars(text: str) -> str:
    """``text`` escaped as ``json.dumps`` escapes it (ASCII only), without the quotes."""
    return json.dumps(text)[1:-1]


def _getter(indexes: list[int]) -> Callable[[Sequence[str]], tuple[str, ...]]:
    """The values at ``indexes`` as a tuple (``itemgetter`` returns a bare value for a single index)."""
    if len(indexes) > 1:
        return itemgetter(*indexes)
    return lambda values: tuple(values[i] for i in indexes)


def _card_key(pick: dict[str, Any]) -> tuple:
    """What a card's pieces depend on: the paper's values, and whether there is a reason at all."""
    return (bool(pick["reason"]), *(v for k, v in pick.items() if k not in _READER_PICK))


# A reader's value in every form a digest needs: text (as the finalizer prints it), whether that text joins clean
# text without the join needing cleaning again (see ``Form.joins_cleanly``), HTML (as autoescape prints it), and
# the ``json_chars`` of the text and of the HTML.
Shown = tuple[str, bool, str, str, str]
_UNUSED: Shown = ("", True, "", "", "")  # a value no form of the card prints


def _shown(value: Any) -> Shown:
    if type(value) is int:
        text = str(value)
        return text, True, text, text, text
    text = clean_text(value)
    html = str(escape(value))
    joins = not text or (text[0].isascii() and clean_text(text) == text)
    return text, joins, json_chars(text), html, json_chars(html)


def _unchanged(value: str) -> bool:
    """Whether every form of ``value`` is ``value``: printable ASCII with nothing to escape in HTML or JSON."""
    return is_plain(value) and not (
        "&" in value or "<" in value or ">" in value or "'" in value or '"' in value or "\\" in value
    )  # what autoescape and JSON escape


# Card forms by (template, card key), shared by every assembler of the process.
_CARD_FORMS: dict[tuple[Template, tuple], Form] = {}
CARD_FORMS_MAX = 4096


def _remember_card(template: Template, key: tuple, form: Form) -> None:
    """Keep ``form`` for the next batches; when full (old days' papers), start over. Threads may share it: each
    dict operation is atomic."""
    if len(_CARD_FORMS) >= CARD_FORMS_MAX:
        _CARD_FORMS.clear()
    _CARD_FORMS[(template, key)] = form


class DigestAssembler:
    """Renders the digests of one batch; not shared between threads (its caches are plain dicts)."""

    def __init__(self, templates: EmailTemplates, message: str = MESSAGE) -> None:
        self.templates = templates
        self.message = message
        self._pick_templates: dict[bool, Template] = {}
        self.cards_rendered = 0  # card forms this assembler had to render (the others came from ``_CARD_FORMS``)
        self._layouts: dict[tuple, tuple[Form, Form | None]] = {}
        self._subjects: dict[tuple, str] = {}
        self._shown: dict[str, Shown] = {}  # values that need any work, shared by readers (reasons, titles)
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
        """The digest with its bodies' JSON string literals (``RenderedMessage.json_literals``) made alongside."""
        picks, trending = context["picks"], context["trending"]
        subject = self._subject(context)
        layout_text, layout_html = self._layout(context, len(picks), len(trending), html)
        shown = [self.shown(subject if name == "subject" else context[name]) for name in PER_DIGEST]
        texts, _, texts_json, htmls, htmls_json = zip(*shown, strict=True)
        cards = [self._card(pick, html=layout_html is not None) for pick in [*picks, *trending]]
        if cards:
            card_texts, card_texts_json, card_htmls, card_htmls_json = zip(*cards, strict=True)
            texts, texts_json = texts + card_texts, texts_json + card_texts_json
            htmls, htmls_json = htmls + card_htmls, htmls_json + card_htmls_json
        tidied = layout_text.fill_tidy(texts, texts_json)
        text, text_json = tidied or (tidy_text(layout_text.fill(texts)), None)
        literals = [] if text_json is None else [(text, f'"{text_json}"')]
        body_html = None
        if layout_html is not None:
            body_html = layout_html.fill(htmls)
            literals.append((body_html, f'"{layout_html.fill_json(htmls_json)}"'))
        return RenderedMessage(
            subject=subject, text=text, html=body_html, headers=dict(headers or {}), json_literals=tuple(literals)
        )

    def shown(self, value: Any) -> Shown:
        """``value`` in every form a digest needs (``Shown``); remembered for the batch when it takes any work."""
        if type(value) is not str:
            return _shown(value)
        if _unchanged(value):
            return value, True, value, value, value  # URLs, dates, most addresses
        known = self._shown.get(value)
        if known is None:
            known = self._shown[value] = _shown(value)
        return known

    def _card(self, pick: dict[str, Any], *, html: bool) -> tuple[str, str, str | None, str | None]:
        """One reader's card: text and HTML (if ``html``), each with its ``json_chars``.

        The text is what the finalizer makes of the card the macro prints, which is the filled form itself when
        every piece is clean and joins cleanly (URLs, numbers, most reasons)."""
        key = _card_key(pick)
        form = self._card_form(key, pick, html=False)
        html_form = self._card_form(key, pick, html=True) if html else None
        # only the values the card prints (a paper without a PDF prints no PDF link)
        used = form.used if html_form is None else form.used | html_form.used
        shown = [self.shown(pick[name]) if name in used else _UNUSED for name in PER_PICK]
        texts, joins, texts_json, htmls, htmls_json = zip(*shown, strict=True)
        if form.joins_cleanly and all(joins):
            text, text_json = form.fill(texts), form.fill_json(texts_json)
        else:
            text = clean_text(form.fill(texts))
            text_json = json_chars(text)
        if html_form is None:
            return text, text_json, None, None
        return text, text_json, html_form.fill(htmls), html_form.fill_json(htmls_json)

    def _subject(self, context: dict[str, Any]) -> str:
        key = tuple(context[name] for name in SUBJECT_KEYS)
        subject = self._subjects.get(key)
        if subject is None:
            template = self.templates.text.get_template(f"{self.message}/subject.txt")
            subject = self._subjects[key] = one_line(template.render(context))
        return subject

    def _card_form(self, key: tuple, pick: dict[str, Any], *, html: bool) -> Form:
        """One paper's card, text or HTML, with the reader's values left open; ``key``: see ``_card_key``.

        Shared by the assemblers of the process, keyed by the template: a card depends on nothing else, and
        a batch of 50 digests shows ~100 different papers (rendering a card costs ~40 us)."""
        template = self._pick_template(html)
        form = _CARD_FORMS.get((template, key))
        if form is None:
            # a truthy stand-in for a non-empty reason: the template tests it
            shown = dict(pick)
            shown.update({name: slot(name) for name in PER_PICK if name != "reason" or pick["reason"]})
            rendered = template.render(pick=shown) if html else template.module.paper(shown)  # type: ignore[attr-defined]
            form = Form(str(rendered), PER_PICK)
            _remember_card(template, key, form)
            self.cards_rendered += 1
        return form

    def _pick_template(self, html: bool) -> Template:
        """The card template, looked up once per batch (Jinja checks the file for changes on every lookup)."""
        template = self._pick_templates.get(html)
        if template is None:
            if html:
                template = self.templates.html.get_template(f"{self.message}/_pick.html")
            else:
                template = self.templates.text.get_template(f"{self.message}/_pick.txt")
            self._pick_templates[html] = template
        return template

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
