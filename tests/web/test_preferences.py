"""The preferences page (signed link, no password) and the "email me my preferences link" form."""

from __future__ import annotations

import datetime as dt
import re

from service.models import Subscriber
from tests.web.support import add_subscriber, csrf_from, links_in, outbox_messages, path_of


def prefs_path(rt, subscriber):
    return path_of(rt.links.preferences(subscriber))


def form_from_page(page_text: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf_from(page_text),
        "topics": "graph neural networks, <script>alert(1)</script>",
        "include_keywords": "protein",
        "exclude_keywords": "survey",
        "followed_authors": "Geoffrey Hinton",
        "papers_per_email": "7",
        "frequency": "weekly",
        "weekly_day": "4",
        "send_hour": "6",
        "timezone": "America/New_York",
        "email_format": "text",
        "paused_until": (dt.date.today() + dt.timedelta(days=10)).isoformat(),
    }
    form.update(changes)
    return form


def test_the_page_shows_current_preferences(client, web_rt):
    subscriber = add_subscriber(web_rt, topics=["robots", "speech"], timezone="Asia/Tokyo", send_hour=9)
    page = client.get(prefs_path(web_rt, subscriber))
    assert page.status_code == 200
    assert "robots, speech" in page.text
    assert re.search(r'<option value="Asia/Tokyo" selected[ >]', page.text)
    assert '<option value="9" selected>09:00</option>' in page.text
    assert "reader@example.com" in page.text


def test_saving_applies_every_field(client, web_rt):
    subscriber = add_subscriber(web_rt)
    path = prefs_path(web_rt, subscriber)
    saved = client.post(path, data=form_from_page(client.get(path).text))  # tracking box unticked
    assert saved.status_code == 200 and "Saved" in saved.text
    assert "&lt;script&gt;" in saved.text and "<script>alert" not in saved.text
    with web_rt.db.session() as session:
        row = session.get(Subscriber, subscriber.id)
        assert row.topics == ["graph neural networks", "<script>alert(1)</script>"]
        assert (row.frequency, row.weekly_day, row.send_hour, row.timezone) == ("weekly", 4, 6, "America/New_York")
        assert row.papers_per_email == 7 and row.email_format == "text"
        assert row.followed_authors == ["Geoffrey Hinton"] and row.exclude_keywords == ["survey"]
        assert row.paused_until == dt.date.today() + dt.timedelta(days=10)
        assert row.tracking_enabled is False


def test_an_invalid_field_saves_nothing_and_names_the_field(client, web_rt):
    subscriber = add_subscriber(web_rt)
    path = prefs_path(web_rt, subscriber)
    form = form_from_page(client.get(path).text, timezone="Atlantis/Capital", send_hour="25")
    answer = client.post(path, data=form)
    assert answer.status_code == 400
    assert "Nothing was saved" in answer.text
    assert "unknown time zone" in answer.text and "send hour must be from 0 to 23" in answer.text
    assert "graph neural networks" in answer.text  # what was typed is kept
    with web_rt.db.session() as session:
        row = session.get(Subscriber, subscriber.id)
        assert row.timezone == "UTC" and row.topics == [] and row.tracking_enabled is True


def test_saving_needs_the_csrf_token(client, web_rt):
    subscriber = add_subscriber(web_rt)
    path = prefs_path(web_rt, subscriber)
    form = form_from_page(client.get(path).text)
    del form["csrf_token"]
    assert client.post(path, data=form).status_code == 400
    with web_rt.db.session() as session:
        assert session.get(Subscriber, subscriber.id).frequency == "daily"


def test_other_purposes_and_forged_tokens_do_not_open_preferences(client, web_rt):
    subscriber = add_subscriber(web_rt)
    unsubscribe_token = path_of(web_rt.links.unsubscribe(subscriber)).rsplit("/", 1)[1]
    assert client.get(f"/preferences/{unsubscribe_token}").status_code == 404
    page = client.get("/preferences/not-a-token")
    assert page.status_code == 404 and "Page not found" in page.text


def test_an_unsubscribed_reader_sees_a_resubscribe_button(client, web_rt):
    subscriber = add_subscriber(web_rt, status="unsubscribed")
    page = client.get(prefs_path(web_rt, subscriber))
    assert "You are unsubscribed" in page.text
    resubscribe_action = page.text.split('<form method="post" action="')[1].split('"')[0]
    client.post(resubscribe_action, data={"csrf_token": csrf_from(page.text)})
    with web_rt.db.session() as session:
        assert session.get(Subscriber, subscriber.id).status == "confirmed"


def request_link(client, address):
    token = csrf_from(client.get("/preferences").text)
    return client.post("/preferences", data={"csrf_token": token, "email": address})


def test_email_me_my_link_sends_a_working_link_and_reveals_nothing(client, web_rt):
    add_subscriber(web_rt, "known@example.com")
    known, unknown = request_link(client, "known@example.com"), request_link(client, "stranger@example.com")
    assert known.status_code == unknown.status_code == 200 and known.text == unknown.text
    [message] = outbox_messages(web_rt)
    assert message["To"] == "known@example.com"
    [path] = links_in(message, "/preferences/")
    assert client.get(path).status_code == 200


def test_email_me_my_link_validates_the_address(client, web_rt):
    answer = request_link(client, "nope")
    assert answer.status_code == 400 and "That email address is not valid" in answer.text


def test_email_me_my_link_is_rate_limited_per_address(client, web_rt):
    add_subscriber(web_rt, "known@example.com")
    codes = [request_link(client, "known@example.com").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_the_page_explains_each_section_and_how_topics_differ_from_keywords(client, web_rt):
    page = client.get(prefs_path(web_rt, add_subscriber(web_rt))).text
    legends = re.findall(r"<legend>([^<]+)</legend>", page)
    assert legends == ["What to send", "When", "How"]
    assert "Unlike topics, a new paper whose title or abstract" in page  # include-keywords vs topics
    assert 'aria-describedby="topics-help"' in page and 'id="topics-help"' in page


def test_the_time_zone_menu_offers_canonical_zones_only(client, web_rt):
    page = client.get(prefs_path(web_rt, add_subscriber(web_rt, timezone="Europe/Paris"))).text
    offered = re.findall(r'<option value="([A-Za-z_]+(?:/[A-Za-z_+-]+)*)"', page)
    assert "Europe/Berlin" in offered and "America/Argentina/Buenos_Aires" in offered and "UTC" in offered
    for alias in ("US/Pacific", "Asia/Calcutta", "GMT+0", "Europe/Kiev", "Etc/GMT-5"):
        assert alias not in offered
    assert len(offered) < 450  # not the 599 names of zoneinfo.available_timezones()
    assert re.search(r'<optgroup label="Europe">', page)
    assert re.search(r'<option value="Asia/Kolkata"[^>]* data-aliases="Asia/Calcutta"', page)  # browsers' old names


def test_a_zone_saved_under_an_old_name_shows_as_its_canonical_zone(client, web_rt):
    page = client.get(prefs_path(web_rt, add_subscriber(web_rt, timezone="US/Pacific"))).text
    assert re.search(r'<option value="America/Los_Angeles" selected[ >]', page)
    assert 'data-guess="browser"' not in page  # a zone the reader chose is never replaced


def test_only_the_untouched_default_zone_is_replaced_by_the_browsers(client, web_rt):
    subscriber = add_subscriber(web_rt)  # UTC: the default nobody chose
    path = prefs_path(web_rt, subscriber)
    page = client.get(path)
    assert 'data-guess="browser"' in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp  # our one file, nothing inline
    assert re.search(r'<script src="/assets/preferences\.js"></script>', page.text)
    assert client.get("/assets/preferences.js").status_code == 200
    saved = client.post(path, data=form_from_page(page.text, timezone="UTC"))
    assert 'data-guess="browser"' not in saved.text  # just saved as UTC: shown as saved


def test_the_weekly_day_is_marked_as_weekly_only(client, web_rt):
    page = client.get(prefs_path(web_rt, add_subscriber(web_rt))).text
    field = page.split('<div id="weekly-day-field">')[1].split("</div>")[0]
    assert 'id="weekly_day"' in field and "for weekly digests only" in field  # the script hides it for others
    assert "script-src" not in client.get("/").headers["Content-Security-Policy"]  # other pages run nothing
