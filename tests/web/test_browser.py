"""End to end in headless Chromium against a real server process: subscribe → confirm from the outbox email →
change preferences → receive a digest → click a paper → unsubscribe. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import datetime as dt
import email
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.models import Interaction, Paper, Subscriber
from service.runtime import Runtime
from tests.web.browser_support import ARTIFACTS, Site
from tests.web.support import text_part

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADDRESS = "reader@example.com"


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _mails(rt: Runtime, subject_contains: str = "") -> list[email.message.Message]:
    found = [email.message_from_bytes(p.read_bytes()) for p in sorted(Path(rt.settings.OUTBOX_DIR).glob("*.eml"))]
    return [m for m in found if subject_contains.lower() in str(m["Subject"]).lower()]


def _link(message: email.message.Message, path_prefix: str) -> str:
    urls = re.findall(r"https?://[^\s<>\"')\]]+", text_part(message))
    matches = [u for u in urls if path_prefix in u]
    assert matches, f"no {path_prefix} link in {message['Subject']!r}"
    return matches[0]


def _subscriber(rt: Runtime) -> Subscriber:
    with rt.db.session() as session:
        return session.scalar(select(Subscriber).where(Subscriber.email == ADDRESS))


def test_subscribe_confirm_prefer_read_click_unsubscribe(site: Site, browser_page: Any) -> None:
    page, rt = browser_page, site.rt
    today = dt.datetime.now(dt.UTC).date()
    with rt.db.session() as session:
        for i, title in enumerate(["Robots that learn to fold laundry", "Diffusion for robot grasping", "A survey"]):
            session.add(
                Paper(
                    title=title,
                    title_key=title.lower(),
                    abstract=f"{title}: we study robots, grasping and diffusion policies.",
                    authors=["Ada Lovelace", "Alan Turing"],
                    listing_date=today,
                    upvotes=30 - i,
                    url=f"{site.papers_url}/paper-{i}",
                )
            )

    # 1. the landing page shows today's papers; subscribe
    page.goto(site.base_url + "/")
    assert page.get_by_text("Robots that learn to fold laundry").first.is_visible()
    _shot(page, "01-landing")
    page.fill("#email", ADDRESS)
    page.fill("#topics", "robotics, diffusion")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    _shot(page, "02-check-inbox")
    assert _subscriber(rt).status == "unconfirmed"

    # 2. confirm from the email in the outbox: the link opens a page, the button confirms
    [confirmation] = _mails(rt, "confirm")
    page.goto(_link(confirmation, "/confirm/"))
    _shot(page, "03-confirm")
    assert _subscriber(rt).status == "unconfirmed"
    page.get_by_role("button", name="Yes, send me Paperboy").click()
    page.get_by_role("heading", name="You're subscribed").wait_for()
    assert _subscriber(rt).status == "confirmed"

    # 3. preferences: fewer papers, an evening hour in Berlin, one excluded keyword
    page.get_by_role("link", name="Set your preferences").click()
    page.get_by_role("heading", name="Your preferences").wait_for()
    assert page.input_value("#topics") == "robotics, diffusion"
    page.fill("#papers_per_email", "2")
    page.fill("#exclude_keywords", "survey")
    page.select_option("#send_hour", "18")
    page.select_option("#timezone", "Europe/Berlin")
    page.get_by_role("button", name="Save preferences").click()
    page.get_by_text("Saved. Your next digest uses these settings.").wait_for()
    _shot(page, "04-preferences-saved")
    subscriber = _subscriber(rt)
    assert (subscriber.papers_per_email, subscriber.send_hour, subscriber.timezone) == (2, 18, "Europe/Berlin")
    assert subscriber.exclude_keywords == ["survey"] and subscriber.tracking_enabled

    # 4. today's digest arrives; read it in the browser and click a paper
    from service.digest import send_due_digests

    report = send_due_digests(rt, today)
    assert report["sent"] == 1, report
    [digest] = [m for m in _mails(rt) if m["To"] == ADDRESS and "/digest/" in text_part(m)]
    assert "A survey" not in text_part(digest)  # the excluded keyword applied to the next digest
    page.goto(_link(digest, "/digest/"))
    _shot(page, "05-digest-web-view")
    first_paper = page.locator("a[href*='/c/']").first
    first_paper.click()
    page.wait_for_url(re.compile(re.escape(site.papers_url) + r"/paper-\d"))
    assert page.get_by_role("heading").first.inner_text().startswith("Paper page /paper-")
    _shot(page, "06-paper-after-click")
    with rt.db.session() as session:
        clicks = session.scalars(select(Interaction).where(Interaction.kind == "click")).all()
    assert len(clicks) == 1 and clicks[0].subscriber_id == subscriber.id and not clicks[0].suspected_scanner

    # 5. unsubscribe from the email's footer link: the page asks, the button acts
    page.goto(_link(digest, "/unsubscribe/"))
    _shot(page, "07-unsubscribe")
    assert _subscriber(rt).status == "confirmed"
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You're unsubscribed").wait_for()
    _shot(page, "08-unsubscribed")
    assert _subscriber(rt).status == "unsubscribed"


def test_error_pages_and_mobile_layout_render(site: Site, browser_page: Any) -> None:
    page = browser_page
    answer = page.goto(site.base_url + "/c/not-a-real-link")
    assert answer.status == 404
    assert page.get_by_role("heading", name="Page not found").is_visible()
    _shot(page, "09-not-found")
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(site.base_url + "/")
    # the form fits a small phone: no horizontal scrolling
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    _shot(page, "10-landing-mobile")
