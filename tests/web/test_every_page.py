"""Every page and every email, seen in headless Chromium at a phone's and a laptop's width, light and dark.

A reader's first hour, walked for real: subscribe, the confirmation email, confirm (twice), preferences, the
"email me my link" form and its email, a digest email (with images and without), its web view, a paper's page,
"more like this" and its undo, trending, an error page, the data pages, unsubscribe. At each stop ``Inspector``
screenshots the page into ``test-artifacts/browser/`` and fails on horizontal scrolling, a same-site link that
answers an error, or any error the browser reports (a blocked script or style, a CSP violation).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.digest import send_due_digests
from service.models import Interaction, Paper, Subscriber
from service.runtime import Runtime
from tests.web.browser_support import ARTIFACTS, CHROMIUM_ARGS, DESKTOP_AGENT, Inspector, Site

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADDRESS = "first.hour@example.com"
LONG_TITLE = (
    "Supercalifragilisticexpialidociously-Long-Hyphenated-Compound-Identifiers in Transformer Tokenisers: "
    "A Study of Extremely Long Words and Titles That Go On and On Past Any Reasonable Subject Line"
)


@pytest.fixture
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _page(browser: Any, **options: Any) -> Any:
    context = browser.new_context(user_agent=DESKTOP_AGENT, viewport={"width": 390, "height": 900}, **options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def _papers(site: Site, day: dt.date) -> dict[str, int]:
    """One paper with everything a source can give, one with nothing but a long title, one trending survey."""
    with site.rt.db.session() as session:
        rich = Paper(
            title="Diffusion Policies for Robot Grasping",
            title_key="diffusion policies for robot grasping",
            arxiv_id="2506.01234",
            abstract="We study diffusion policies for grasping with robots. " * 6,
            authors=["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov"],
            listing_date=day,
            published_on=day - dt.timedelta(days=2),
            upvotes=1,
            url=f"{site.papers_url}/abs/2506.01234",
            thumbnail=f"{site.papers_url}/thumbnails/2506.01234.png",
            github_repo="owner/grasping",
            project_page=f"{site.papers_url}/project/grasping",
        )
        bare = Paper(title=LONG_TITLE, title_key=LONG_TITLE.lower(), abstract="Robots and tokenisers.",
                     listing_date=day, upvotes=2)  # fmt: skip
        survey = Paper(title="A Survey of Robot Learning", title_key="a survey of robot learning",
                       abstract="A survey of robots that learn.", listing_date=day, upvotes=40,
                       url=f"{site.papers_url}/abs/survey")  # fmt: skip
        session.add_all([rich, bare, survey])
        session.flush()
        return {"rich": rich.id, "bare": bare.id, "survey": survey.id}


def _mails(rt: Runtime) -> list[EmailMessage]:
    files = sorted(Path(rt.settings.OUTBOX_DIR).glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in files]


def _mail(rt: Runtime, kind: str) -> EmailMessage:
    found = [m for m in _mails(rt) if m["To"] == ADDRESS and kind in m["Subject"]]
    assert found, f"no email with {kind!r} in its subject"
    return found[-1]


def _link(message: EmailMessage, path: str) -> str:
    text = message.get_body(("plain",)).get_content()
    return next(word for word in text.split() if path in word and word.startswith("http"))


def test_every_page_and_email_fits_a_phone_and_a_laptop_in_light_and_dark(site: Site, chromium: Any) -> None:
    rt, today = site.rt, dt.datetime.now(dt.UTC).date()
    ids = _papers(site, today)
    page = _page(chromium, timezone_id="Asia/Kolkata")
    inspect = Inspector(page, site.base_url, site.papers_url)

    page.goto(site.base_url + "/")
    inspect.look("01-landing")
    page.fill("#email", ADDRESS)
    page.fill("#topics", "robots, diffusion")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    inspect.look("02-check-inbox")

    confirmation = _mail(rt, "Confirm")
    inspect.look_at_email("03-email-confirmation", confirmation.get_body(("html",)).get_content())
    confirm_url = _link(confirmation, "/confirm/")
    page.goto(confirm_url)
    inspect.look("04-confirm")
    page.get_by_role("button", name="Yes, send me Paperboy").click()
    page.get_by_role("heading", name="You're subscribed").wait_for()
    inspect.look("05-confirmed")
    page.goto(confirm_url)  # the same link again: no second "Confirm", a way to the preferences instead
    page.get_by_role("heading", name="Already confirmed").wait_for()
    assert page.get_by_role("button").count() == 0
    inspect.look("06-already-confirmed")

    page.get_by_role("link", name="Your preferences").click()
    page.get_by_role("heading", name="Your preferences").wait_for()
    # the browser's zone (Chromium reports India's under its old name, Asia/Calcutta) replaces the unchosen UTC
    assert page.input_value("#timezone") == "Asia/Kolkata"
    assert page.locator("#timezone-guess").is_visible()
    assert page.locator("#weekly-day-field").is_hidden()  # daily: the weekly day does not apply
    page.get_by_label("Once a week").check()
    assert page.locator("#weekly-day-field").is_visible()
    page.get_by_label("Every day").check()
    inspect.look("07-preferences")
    page.fill("#papers_per_email", "3")
    page.get_by_role("button", name="Save preferences").click()
    page.get_by_text("Saved. Your next digest uses these settings.").wait_for()
    inspect.look("08-preferences-saved")
    with rt.db.session() as session:
        reader = session.scalar(select(Subscriber).where(Subscriber.email == ADDRESS))
        assert (reader.timezone, reader.papers_per_email) == ("Asia/Kolkata", 3)
        reader.send_hour = 0  # due whatever the hour the test runs

    page.goto(site.base_url + "/preferences")
    inspect.look("09-preferences-request")
    page.fill("#email", ADDRESS)
    page.get_by_role("button", name="Email me my preferences link").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    inspect.look_at_email("10-email-preferences-link", _mail(rt, "preferences").get_body(("html",)).get_content())

    report = send_due_digests(rt, today)
    assert report["sent"] == 1, report
    digest = _mail(rt, "Paperboy ·")
    assert len(digest["Subject"]) <= 80 and " and " in digest["Subject"]
    text = digest.get_body(("plain",)).get_content()
    assert "▲ 1 upvote\n" in text.replace("\r\n", "\n") and "1 upvotes" not in text
    html = digest.get_body(("html",)).get_content()
    inspect.look_at_email("11-email-digest", html)
    assert page.locator("img").first.evaluate("img => img.complete && img.naturalWidth > 0")

    # images off (most mail clients' default for a new sender): the alt text stands in, nothing overflows
    page.route("**/*.png", lambda route: route.abort())
    inspect.allowed_errors = ("Failed to load resource",)
    inspect.look_at_email("12-email-digest-images-off", html)
    image = page.locator("img").first
    assert image.get_attribute("width") and image.get_attribute("height")
    assert "Diffusion Policies for Robot Grasping" in (image.get_attribute("alt") or "")
    page.unroute("**/*.png")
    inspect.allowed_errors = ()

    page.goto(_link(digest, "/digest/"))  # the web view: a page of the site, header and footer included
    assert page.locator("header.site").is_visible() and page.locator("footer.site").is_visible()
    inspect.look("13-digest-web-view")
    page.get_by_role("link", name="Diffusion Policies for Robot Grasping").click()
    page.wait_for_url(f"{site.base_url}/papers/2506.01234")
    assert page.locator('meta[property="og:title"]').get_attribute("content") == "Diffusion Policies for Robot Grasping"
    assert page.locator('meta[property="og:image"]').get_attribute("content").endswith("2506.01234.png")
    inspect.look("14-paper-page")
    page.goto(f"{site.base_url}/papers/{ids['bare']}")  # the id alone: redirected to the slug
    assert page.url.startswith(f"{site.base_url}/papers/{ids['bare']}-supercalifragilistic")
    inspect.look("15-paper-page-no-arxiv-id")

    page.goto(_link(digest, "/feedback/"))
    inspect.look("16-feedback")
    page.get_by_role("button", name="Yes, more like this").click()
    page.get_by_role("heading", name="Thanks, noted").wait_for()
    inspect.look("17-feedback-noted")
    page.get_by_role("button", name="Undo").click()
    page.get_by_role("heading", name="Taken back").wait_for()
    inspect.look("18-feedback-undone")
    with rt.db.session() as session:
        assert not session.scalars(select(Interaction).where(Interaction.kind == "more")).all()
    page.get_by_role("link", name="Back to the digest").click()
    page.get_by_role("heading", name="Your digest").wait_for()

    page.goto(site.base_url + "/trending")
    inspect.look("19-trending")
    inspect.allowed_errors = ("404",)  # the page itself answers 404, which Chromium reports
    answer = page.goto(site.base_url + "/papers/9999.99999")
    assert answer.status == 404
    inspect.look("20-not-found")
    inspect.allowed_errors = ()

    page.goto(_link(digest, "/unsubscribe/"))
    inspect.look("21-unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You're unsubscribed").wait_for()
    inspect.look("22-unsubscribed")
    page.get_by_role("button", name="Resubscribe").click()
    page.get_by_role("heading", name="Welcome back").wait_for()
    inspect.look("23-resubscribed")

    page.get_by_role("link", name="Your preferences").click()
    page.get_by_role("link", name="Download or delete your data").click()
    inspect.look("24-my-data")
    page.get_by_role("link", name="Delete my data…").click()
    page.get_by_role("heading", name=f"Delete everything about {ADDRESS}?").wait_for()
    inspect.look("25-delete-confirm")
    page.get_by_label("I understand").check()
    page.get_by_role("button", name="Delete everything").click()
    page.get_by_role("heading", name="Your data is deleted").wait_for()
    inspect.look("26-data-deleted")
    with rt.db.session() as session:
        assert session.scalar(select(Subscriber).where(Subscriber.email == ADDRESS)) is None
    assert len(inspect.shots) >= 26 * 4


def test_the_preferences_page_works_without_javascript(site: Site, chromium: Any) -> None:
    """Progressive enhancement: without scripts every field shows, and the saved zone stays as it is."""
    from service.subscribers.lifecycle import create_confirmed

    with site.rt.db.session() as session:
        reader = create_confirmed(session, ADDRESS)
    page = _page(chromium, java_script_enabled=False, timezone_id="Asia/Tokyo")
    page.goto(site.base_url + site.rt.links.preferences(reader).removeprefix(site.base_url))
    assert page.locator("#weekly-day-field").is_visible()
    assert page.input_value("#timezone") == "UTC" and page.locator("#timezone-guess").is_hidden()
    page.get_by_label("Once a week").check()
    page.select_option("#weekly_day", "4")
    page.get_by_role("button", name="Save preferences").click()
    page.get_by_text("Saved.").wait_for()
    with site.rt.db.session() as session:
        saved = session.get(Subscriber, reader.id)
        assert (saved.frequency, saved.weekly_day, saved.timezone) == ("weekly", 4, "UTC")
