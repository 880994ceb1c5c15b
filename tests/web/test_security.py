"""Security headers on every page, friendly error pages, no state change on GET."""

from __future__ import annotations

import pytest

from tests.web.support import add_subscriber, path_of, reader


@pytest.mark.parametrize("path", ["/", "/trending", "/preferences", "/nope"])
def test_security_headers(client, path):
    answer = client.get(path)
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["X-Frame-Options"] == "DENY"


def test_personal_pages_are_not_cached(client, web_rt):
    subscriber = add_subscriber(web_rt)
    answer = client.get(path_of(web_rt.links.preferences(reader(subscriber))))
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_stylesheet_is_served_locally(client):
    page = client.get("/").text
    assert 'href="/assets/paperboy.css"' in page and "http://" not in page.split("<main>")[0]
    assert client.get("/assets/paperboy.css").status_code == 200


def test_session_cookie_is_httponly_and_samesite(client):
    cookie = client.get("/").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_friendly_404_and_405(client):
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and "Page not found" in missing.text and "<html" in missing.text
    wrong = client.delete("/")
    assert wrong.status_code == 405 and "<html" in wrong.text


def test_friendly_500(app):
    def boom():
        raise RuntimeError("the database caught fire")

    app.add_url_rule("/boom", view_func=boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    answer = app.test_client().get("/boom")
    assert answer.status_code == 500
    assert "Something broke" in answer.text and "caught fire" not in answer.text


def test_healthz_still_answers(client):
    assert client.get("/healthz").get_json()["status"] == "ok"


def test_machine_endpoints_get_json_errors(client):
    answer = client.get("/webhooks/sendgrid")  # POST only
    assert answer.status_code == 405 and answer.is_json and answer.get_json()["error"] == "Not allowed"


@pytest.mark.parametrize(
    ("code", "title"),
    [
        (400, "Something was missing"),
        (403, "Not allowed"),
        (404, "Page not found"),
        (410, "no longer works"),
        (429, "Slow down"),
        (500, "Something broke"),
    ],
)
def test_every_error_code_has_a_friendly_page(app, code, title):
    from flask import abort

    app.add_url_rule(f"/fail-{code}", endpoint=f"fail_{code}", view_func=lambda: abort(code))
    answer = app.test_client().get(f"/fail-{code}")
    assert answer.status_code == code
    assert title in answer.text and '<link rel="stylesheet"' in answer.text
    assert "Werkzeug" not in answer.text and "Traceback" not in answer.text
