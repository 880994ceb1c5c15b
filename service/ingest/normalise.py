"""Text and identity normalisation shared by every parser, so one paper looks the same whatever page it came from.

Titles and abstracts: mojibake and broken code points repaired by ``ftfy`` (a lone surrogate, half an emoji cut
by an upstream truncation, becomes U+FFFD), Unicode NFC, control and bidi-override characters removed, arXiv line
wraps removed, whitespace collapsed, LaTeX kept as written. Every string ingest stores goes through
``clean_text`` (values) or ``storable`` (origins and error messages), so the database is never handed a code
point it refuses (PostgreSQL: NUL, lone surrogates).
Identity: the arXiv id without version when known, else ``title_key`` (case-folded words).
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import unicodedata
from urllib.parse import quote_plus

from ftfy import TextFixerConfig, fix_text

from service.ingest.errors import ParseError

TITLE_KEY_MAX = 512  # the column's width (papers.title_key)
INT_MAX = 2**31 - 1  # a 32-bit INTEGER column (PostgreSQL refuses more)

# C0/C1 controls, zero-width space, BOM, and the explicit bidi embeddings/overrides/isolates (title spoofing)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u202a-\u202e\u2066-\u2069\ufeff]")
# what no encoder or database takes: lone surrogates; and noncharacters, which no text means
# What ftfy can repair leaves a trace: mojibake of UTF-8 read as Latin-1/Windows-1252 always holds a character of
# U+00C0..U+00FF (the lead bytes); then C1 controls, terminal escapes, surrogates. Text without any is left as is.
_REPAIRABLE = re.compile(r"[\x1b\x80-\x9f\u00c0-\u00ff\ud800-\udfff\ufffd]")
_UNENCODABLE = re.compile(r"[\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
# ftfy's repairs, minus those that would change what an author wrote (quotes, ligatures, widths, HTML entities)
_FIXES = TextFixerConfig(
    unescape_html=False,
    uncurl_quotes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    normalization="NFC",
    explain=False,
)
_SPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)

# New style 2301.01234(v2), old style astro-ph/0601001(v1) or math.GT/0309136.
_ARXIV_NEW = re.compile(r"^([0-9]{4}\.[0-9]{4,5})(?:v[0-9]+)?$")
_ARXIV_OLD = re.compile(r"^([a-z][a-z\-]{0,20}(?:\.[A-Z]{2})?/[0-9]{7})(?:v[0-9]+)?$")
_VERSION = re.compile(r"[0-9]v([0-9]{1,9})$")

_URL = re.compile(r"(?:https?://|www\.|(?<![\w.@/])github\.com/)[^\s<>\"'{}|\\^`\]]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""
_CODE_HOSTS = ("github.com", "gitlab.com", "huggingface.co", "bitbucket.org", "codeberg.org")

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_ISO_DAY = re.compile(r"(?<![0-9])([0-9]{4})-([0-9]{2})-([0-9]{2})(?![0-9])")


# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def bom_encoding(content: bytes) -> str | None:
    """The encoding a byte-order mark at the start of ``content`` announces, if any."""
    return next((encoding for bom, encoding in BYTE_ORDER_MARKS if content.startswith(bom)), None)


def decode_text(content: bytes) -> str:
    """Bytes to text: UTF-8 (a BOM of UTF-8/16/32 is honoured); anything else is a ParseError naming the spot."""
    if not content:
        raise ParseError("empty page (0 bytes)")
    encoding = bom_encoding(content)
    if encoding:
        try:
            return content.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"not valid {encoding.upper()} despite its byte-order mark ({exc.reason})") from exc
    if b"\x00" in content[:8192]:
        raise ParseError(
            "binary content (NUL bytes): not a text, JSON or Atom page (UTF-16 text needs a byte-order mark)"
        )
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        column = exc.start - (content.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ParseError(
            f"not UTF-8 text: byte 0x{content[exc.start]:02x} at column {column} (save the page as UTF-8)",
            line=line,
        ) from exc


def clean_text(value: object) -> str:
    """Repaired (ftfy: mojibake, lone surrogates -> U+FFFD), NFC, control characters dropped, every run of
    whitespace (arXiv's line wraps too) made one space. Idempotent: cleaning clean text changes nothing (a repair
    can reveal another, e.g. once spaces are gone, so it runs to a fixpoint; on real text, one or two rounds)."""
    if value is None:
        return ""
    text = str(value)
    for _ in range(_ROUNDS):
        cleaned = _clean_once(text)
        if cleaned == text:
            break
        text = cleaned
    return text


_ROUNDS = 6


def _clean_once(text: str) -> str:
    if text.isascii():
        if text.isprintable() and "  " not in text and text == text.strip():
            return text  # the common case: one line, nothing to remove
        if "\x1b" in text:  # a terminal colour code: ftfy removes the whole sequence
            text = fix_text(text, _FIXES)
    else:
        if _REPAIRABLE.search(text):
            text = fix_text(text, _FIXES)
        text = _UNENCODABLE.sub("\ufffd", text)
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text)
    return _SPACE.sub(" ", text).strip()


def storable(value: object) -> str:
    """Any text (a file name with undecodable bytes, an error quoting bad input) as a string every database and
    terminal takes: undecodable bytes shown as ``\\xNN``, other broken code points as U+FFFD, NUL removed."""
    text = str(value)
    if text.isascii():
        return text.replace("\x00", "")
    # os.fsdecode turns undecodable bytes of a file name into lone surrogates U+DC80..U+DCFF: show them as bytes
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") if _has_escape(text) else text
    return _UNENCODABLE.sub("\ufffd", text).replace("\x00", "")


def _has_escape(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return False
        return True
    return False


def title_key(title: str) -> str:
    """The fallback identity: case-folded, compatibility-normalised words, punctuation ignored."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    key = _SPACE.sub(" ", _NON_WORD.sub(" ", folded)).strip() or _SPACE.sub(" ", folded).strip()
    return key[:TITLE_KEY_MAX]


def normalise_arxiv_id(value: object) -> str | None:
    """``2401.01234v2`` / ``arXiv:2401.01234`` / ``https://arxiv.org/abs/astro-ph/0601001v1`` -> the bare id."""
    if value is None:
        return None
    text = str(value).strip()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    for prefix in ("www.arxiv.org/", "arxiv.org/", "export.arxiv.org/"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    for prefix in ("oai:arXiv.org:", "oai:arxiv.org:", "abs/", "pdf/", "arXiv:", "arxiv:"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = text.removesuffix(".pdf")
    for pattern in (_ARXIV_NEW, _ARXIV_OLD):
        match = pattern.match(text)
        if match:
            return match.group(1)
    return None


def arxiv_version(value: object) -> int | None:
    """The version an arXiv id or URL names (``2401.01234v3`` -> 3); None when it names none."""
    if value is None or normalise_arxiv_id(value) is None:
        return None
    match = _VERSION.search(str(value).strip().removesuffix(".pdf"))
    return int(match.group(1)) if match and int(match.group(1)) <= INT_MAX else None


def paper_url(arxiv_id: str | None, title: str) -> str:
    """Where a click goes: the arXiv abstract page, else an arXiv title search for the paper."""
    if arxiv_id:
        return f"https://arxiv.org/abs/{arxiv_id}"
    return f"https://arxiv.org/search/?query={quote_plus(title)}&searchtype=title"


def find_links(text: str) -> list[str]:
    """Every web link in ``text`` (GitHub repos even without a scheme), trailing punctuation trimmed, in order."""
    links: list[str] = []
    for match in _URL.finditer(text or ""):
        url = match.group(0)
        while url and url[-1] in _TRAILING:
            # keep a closing bracket that belongs to the URL itself
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        if not url.lower().startswith("http"):
            url = "https://" + url
        url = re.sub(r"^https?://(?:www\.)?github\.com/", "https://github.com/", url, flags=re.IGNORECASE)
        if url not in links and "." in url.split("//", 1)[-1]:
            links.append(url)
    return links


def is_code_link(url: str) -> bool:
    host = url.split("//", 1)[-1].split("/", 1)[0].lower().removeprefix("www.")
    return host in _CODE_HOSTS


def github_repo_of(links: list[str]) -> str | None:
    """The first ``https://github.com/owner/repo`` among ``links``."""
    for url in links:
        match = re.match(r"https?://(?:www\.)?github\.com/([\w.-]+)/([\w.-]+)", url, re.IGNORECASE)
        if match:
            return f"https://github.com/{match.group(1)}/{match.group(2).removesuffix('.git')}"
    return None


def resolve_month_day(month: str, day: int, year: int | None, reference: dt.date) -> dt.date:
    """A date written ``Apr 15`` takes the reference's year, one year earlier if that would be in its future."""
    number = MONTHS[month[:3].lower()]
    if year is not None:
        return dt.date(year, number, day)
    candidate = _safe_date(reference.year, number, day)
    if candidate > reference:
        candidate = _safe_date(reference.year - 1, number, day)
    return candidate


def _safe_date(year: int, month: int, day: int) -> dt.date:
    """Feb 29 of a year without one becomes Feb 28 instead of an error."""
    try:
        return dt.date(year, month, day)
    except ValueError:
        if month == 2 and day == 29:
            return dt.date(year, 2, 28)
        raise


def parse_iso_date(value: object) -> dt.date | None:
    """``2024-05-24T17:34:15.000Z`` -> date; anything else -> None."""
    if not isinstance(value, str):
        return None
    match = _ISO_DAY.match(value.strip())
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def date_in_origin(origin: str) -> dt.date | None:
    """The listing date a file name or URL states (``2024-12-20.json``, ``?date=2024-12-20``), if any."""
    found = None
    for match in _ISO_DAY.finditer(origin.rsplit("/", 1)[-1] if "?" not in origin else origin):
        try:
            found = dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            continue
    return found


def as_int(value: object) -> int | None:
    """API counts arrive as ints or numeric strings; anything else is unknown (None)."""
    number: int | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"[0-9]{1,12}", value.strip()):
        number = int(value.strip())
    if number is None or not 0 <= number <= INT_MAX:
        return None
    return number
