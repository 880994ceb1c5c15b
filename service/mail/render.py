"""Rendering emails with Jinja: one folder per message under ``templates/email``, HTML and plain text.

Two environments, because the two outputs need different escaping:

* ``.html`` templates render with autoescape on, so paper text full of ``<`` and ``&`` stays text. Their CSS
  (``_base/styles.css``) is inlined into the template source by the loader, once, when Jinja loads the template,
  so sending a message never runs the inliner.
* ``.txt`` templates (subjects and plain-text bodies) are not HTML, so HTML escaping would corrupt them
  (``&amp;`` in a subject). They are still made safe: every value passes through ``finalize``, which removes
  control characters (CR, NUL, escape sequences, bidi overrides) so nothing a paper or a subscriber supplies can
  add lines or headers; subjects are then folded to one line.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "email"
STYLESHEET = "_base/styles.css"

# Control characters, except tab and newline in bodies; bidi overrides can disguise links and names.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_WHITESPACE = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class RenderedMessage:
    """What a message says, before it becomes MIME: the subject, both bodies and the extra headers.

    ``json_literals``: (body, the body as a JSON string literal) pairs, when whoever rendered it could build the
    JSON from pieces encoded once (``assemble.py``); an HTTP backend then need not escape ~40 KB per message.
    """

    subject: str
    text: str
    html: str | None
    headers: dict[str, str] = field(default_factory=dict)
    json_literals: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)


def clean_text(value: Any) -> str:
    """A value as safe plain text: no control characters, newlines kept (``\\r\\n`` becomes ``\\n``)."""
    if type(value) is str and is_plain(value):
        return value  # most values printed into emails (URLs, dates, numbers): nothing to normalise or remove
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", unicodedata.normalize("NFC", text))


def is_plain(text: str) -> bool:
    """Printable ASCII only: already clean text, and nothing it is joined to can compose with its first character
    (Unicode normalisation never combines an ASCII character with what precedes it)."""
    return text.isascii() and text.isprintable()


def collapse_blank_lines(text: str) -> str:
    """At most one blank line in a row."""
    if "\n\n\n" in text:  # a plain search is ~10x faster than the regex finding nothing
        return _BLANK_LINES.sub("\n\n", text)
    return text


def tidy_text(text: str) -> str:
    """A plain-text body's final form: at most one blank line in a row, one trailing newline."""
    return collapse_blank_lines(text).strip() + "\n"


def one_line(value: Any) -> str:
    """A value folded to one line: for subjects and header values."""
    return _WHITESPACE.sub(" ", clean_text(value)).strip()


class InliningLoader(FileSystemLoader):
    """A loader that inlines the shared stylesheet into every ``.html`` template as it loads it.

    Jinja caches compiled templates, so the inliner runs once per template file, not once per message. Jinja
    statements must stay where HTML allows text (inside cells and divs), which the templates respect.
    """

    def __init__(self, searchpath: Path) -> None:
        super().__init__(str(searchpath))
        self.stylesheet = (Path(searchpath) / STYLESHEET).read_text(encoding="utf-8")
        # The base's own <style> holds only the dark-mode media query: kept as is, never inlined.
        self._fragment_inliner = css_inline.CSSInliner(
            inline_style_tags=False, keep_style_tags=True, load_remote_stylesheets=False
        )
        self._document_inliner = css_inline.CSSInliner(
            inline_style_tags=False, keep_style_tags=True, load_remote_stylesheets=False, extra_css=self.stylesheet
        )
        self.inlined = 0  # how many template sources were inlined (tests check it does not grow per message)
        self._lock = threading.Lock()

    def get_source(self, environment: Environment, template: str):  # type: ignore[override]
        source, filename, uptodate = super().get_source(environment, template)
        if template.endswith(".html"):
            if source.lstrip().lower().startswith("<!doctype"):
                source = self._document_inliner.inline(source)
            else:
                source = self._fragment_inliner.inline_fragment(source, self.stylesheet)
            with self._lock:
                self.inlined += 1
        return source, filename, uptodate


def _html_env(template_dir: Path) -> Environment:
    return Environment(
        loader=InliningLoader(template_dir),
        autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml"), default=True),
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=False,
    )


def _text_env(template_dir: Path) -> Environment:
    # Not HTML: HTML escaping would corrupt the text. ``finalize`` strips control characters from every value.
    return Environment(
        loader=FileSystemLoader(str(template_dir)),
        autoescape=False,  # noqa: S701 - plain text, not HTML; values are sanitised by finalize (module doc)
        undefined=StrictUndefined,
        finalize=clean_text,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


class EmailTemplates:
    """The email templates of one process: both environments, built once and shared (thread-safe)."""

    def __init__(self, template_dir: Path = TEMPLATE_DIR) -> None:
        self.template_dir = template_dir
        self.html = _html_env(template_dir)
        self.text = _text_env(template_dir)

    @property
    def loader(self) -> InliningLoader:
        return self.html.loader  # type: ignore[return-value]

    def render(
        self, message: str, context: dict[str, Any], *, html: bool = True, headers: dict[str, str] | None = None
    ) -> RenderedMessage:
        """Render ``templates/email/<message>/`` with ``context``; ``html=False`` skips the HTML part."""
        subject = one_line(self.text.get_template(f"{message}/subject.txt").render(context))
        text = tidy_text(self.text.get_template(f"{message}/body.txt").render(context))
        body_html = (
            self.html.get_template(f"{message}/body.html").render(dict(context, subject=subject)) if html else None
        )
        return RenderedMessage(subject=subject, text=text, html=body_html, headers=dict(headers or {}))


_templates: EmailTemplates | None = None
_templates_lock = threading.Lock()


def templates() -> EmailTemplates:
    """The process-wide templates (compiled and inlined on first use)."""
    global _templates
    if _templates is None:
        with _templates_lock:
            if _templates is None:
                _templates = EmailTemplates()
    return _templates
