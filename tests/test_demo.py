"""``make demo`` and its printed next step, as a newcomer takes them: run the demo into a fresh folder, start the
server it suggests as a process, and open every link of one demo email: none may lead to an error page."""

from __future__ import annotations

import email
import email.policy
import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.test_cli import cli_env, paperboy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited {process.returncode}: {process.stderr.read()}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"nothing answered at {url} within {seconds}s")


def follow(url: str, site: str) -> tuple[int, str, str]:
    """GET ``url`` as a browser would, following redirects while they stay on ``site``: (status, final URL, body)."""
    agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
    with httpx.Client(follow_redirects=False, timeout=15, headers={"User-Agent": agent}) as client:
        for _ in range(5):
            answer = client.get(url)
            location = answer.headers.get("Location")
            if not answer.is_redirect or not location:
                return answer.status_code, url, answer.text
            url = str(httpx.URL(url).join(location))
            if not url.startswith(site):
                return answer.status_code, url, ""  # the paper's own site: not ours to check
    raise AssertionError(f"redirect loop from {url}")


def test_the_demos_next_step_serves_every_link_of_its_emails(tmp_path: Path) -> None:
    port = free_port()
    folder = tmp_path / "my demo"  # a space: the printed command must quote it
    printed = paperboy("demo", "--dir", str(folder), "--subscribers", "4", "--port", str(port)).stdout
    [command] = [line.strip() for line in printed.splitlines() if line.strip().endswith(" serve")]
    assert f"http://127.0.0.1:{port}/" in printed
    site = f"http://127.0.0.1:{port}"
    env = cli_env(tmp_path / "elsewhere", DATABASE_URL=f"sqlite:///{tmp_path / 'elsewhere.db'}")  # ignored: a demo
    server = subprocess.Popen(
        shlex.split(command), cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(site + "/healthz", server)
        [first] = sorted((folder / "outbox").glob("*.eml"))[:1]
        message = email.message_from_bytes(first.read_bytes(), policy=email.policy.default)
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        links = set(re.findall(r'href="([^"]+)"', html)) | set(re.findall(r"https?://\S+", text))
        ours = sorted(link.replace("&amp;", "&") for link in links if link.startswith(site))
        assert len(ours) >= 10, links  # papers, feedback, web view, preferences, unsubscribe
        assert not [link for link in links if not link.startswith(site) and "arxiv.org/search" in link]
        for link in ours:
            status, final, body = follow(link, site)
            assert status < 400, f"{link} -> {final}: {status}"
            assert 'class="card error-page"' not in body, link
        for page in ("/", "/trending", "/preferences"):
            assert follow(site + page, site)[0] == 200, page
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert not (tmp_path / "elsewhere").exists()  # the demo's server used the demo's folder, nothing else
