"""What the browser tests share: the app on a real HTTP server, a stand-in for the sites papers link to, headless
Chromium, and ``Inspector``, which looks at a page the way a reader on a phone and on a desktop would.

``Inspector.look`` screenshots a page (or an email's HTML) at each width, in light and in dark mode, into
``test-artifacts/browser/``, and fails the test on horizontal scrolling, on a same-site link that answers an error,
or on anything the browser reports as an error (a script error, a blocked resource, a CSP violation).
"""

from __future__ import annotations

import re
import struct
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from service.runtime import Runtime

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
# A desktop browser's agent: Playwright's default says "HeadlessChrome", which Paperboy rightly flags as a scanner.
DESKTOP_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
PAGE_WIDTHS = (390, 1280)  # a phone, a laptop
EMAIL_WIDTHS = (375, 390, 1280)  # emails: the narrowest phone still common, too
SCHEMES = ("light", "dark")


def png(width: int, height: int, rgb: tuple[int, int, int] = (90, 120, 200)) -> bytes:
    """A plain PNG image of one colour (the stand-in for a paper's thumbnail)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    image = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + image


THUMBNAIL = png(480, 252)


class PaperPages(BaseHTTPRequestHandler):
    """Stands in for the sites papers link to: a page naming the path it was asked for, and PNG thumbnails."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        if self.path.endswith(".png"):
            body, kind = THUMBNAIL, "image/png"
        else:
            body = f"<!doctype html><title>Paper page</title><h1>Paper page {self.path}</h1>".encode()
            kind = "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


def serve_in_thread(server: Any) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


def papers_server() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PaperPages)
    serve_in_thread(server)
    return server


@dataclass
class Site:
    base_url: str
    rt: Runtime
    papers_url: str


_URL = re.compile(r"https?://[^\s<>\"')\]]+")


@dataclass
class Inspector:
    """Looks at pages in one browser page (Playwright) and remembers what it found wrong."""

    page: Any
    site_root: str
    mail_root: str  # where emails are opened, like a webmail's web view: another origin than our site
    console_errors: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # same-site URL -> status, each fetched once
    shots: list[Path] = field(default_factory=list)
    allowed_errors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.console_errors.append(f"{self.page.url}: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type == "error" and not any(allowed in message.text for allowed in self.allowed_errors):
            self.console_errors.append(f"{self.page.url}: {message.text}")

    def look(self, name: str, *, widths: tuple[int, ...] = PAGE_WIDTHS, check_links: bool = True) -> None:
        """Screenshot the current page at every width and scheme; fail on overflow, then check its links."""
        for width in widths:
            for scheme in SCHEMES:
                self.page.emulate_media(color_scheme=scheme)
                self.page.set_viewport_size({"width": width, "height": 900})
                self.page.wait_for_timeout(50)  # layout after the resize
                path = ARTIFACTS / f"{name}-{width}-{scheme}.png"
                self.page.screenshot(path=str(path), full_page=True)
                self.shots.append(path)
                overflow = self.page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px ({scheme}): {path}"
        self.page.emulate_media(color_scheme="light")
        if check_links:
            self.check_links(name, self.hrefs())
        assert not self.console_errors, f"browser errors on {name}: {self.console_errors}"

    def look_at_email(self, name: str, html: str) -> None:
        """An email's HTML part as a mail client's web view shows it: no horizontal scroll from 375 px up."""
        url = f"{self.mail_root}/mail/{name}.html"  # not our site: its CSP (no inline styles) does not apply
        self.page.route(url, lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8"))
        self.page.goto(url, wait_until="load")
        self.page.unroute(url)
        self.look(name, widths=EMAIL_WIDTHS, check_links=False)
        self.check_links(name, [*self.hrefs(), *_URL.findall(html)])

    def hrefs(self) -> list[str]:
        return self.page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")

    def check_links(self, name: str, urls: list[str]) -> None:
        """Every same-site link answers below 400; same-site redirects are followed, other sites are not ours."""
        broken = []
        for url in urls:
            url = url.split("#", 1)[0]
            if not url.startswith(self.site_root) or url in self.checked:
                continue
            status = self._status(url)
            self.checked[url] = status
            if status >= 400:
                broken.append(f"{url} -> {status}")
        assert not broken, f"broken links on {name}: {broken}"

    def _status(self, url: str) -> int:
        # httpx's own agent: a checker, which Paperboy flags as a scanner, so the clicks it makes teach nothing
        with httpx.Client(follow_redirects=False, timeout=15) as client:
            for _ in range(5):
                answer = client.get(url)
                location = answer.headers.get("Location")
                if not answer.is_redirect or not location:
                    return answer.status_code
                url = urljoin(url, location)
                if urlsplit(url).netloc != urlsplit(self.site_root).netloc:
                    return answer.status_code  # leaves our site: where it goes is the paper's business
            return 599
