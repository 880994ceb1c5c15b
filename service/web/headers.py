"""Security headers on every response: our pages load nothing from elsewhere and run no script."""

from __future__ import annotations

from flask import Flask, Response, request

# Our own pages: one stylesheet from us, no scripts, forms post only to us, never framed.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# A page with a script of ours (the preferences form's progressive enhancement): that one file, nothing inline.
SCRIPT_PAGE_CSP = PAGE_CSP + "; script-src 'self'"
# The digest web view is the email's HTML: inline styles and remote images (thumbnails), still no script.
DIGEST_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


HSTS = "max-age=31536000; includeSubDomains"  # a year: browsers then never try plain http for this host


def install(app: Flask) -> None:
    https = app.config["PAPERBOY"].BASE_URL.lower().startswith("https://")

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Every personal link carries a token: never leak it to the sites papers link to.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if https:  # only when the public URL is https: over plain http the header would be ignored, or lock out
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if request.endpoint not in ("public.static", "public.index", "public.trending", "health.healthz"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response
