"""Link tokens never reach a log line: they open readers' accounts for whoever reads the logs."""

from __future__ import annotations

import io
import json
import logging

from service.links import Links
from service.observability import JsonFormatter
from service.redact import RedactingFilter, redact

LINKS = Links("https://paperboy.test", "redact-test-secret-0123456789")


class _Reader:
    id, token_version, link_key = 7, 1, "abcdefghijkl"


def test_every_kind_of_link_is_masked():
    pick = LINKS.pick(3, 4, 1, _Reader.link_key)
    for url in (
        LINKS.preferences(_Reader),
        LINKS.unsubscribe(_Reader),
        LINKS.confirm(_Reader),
        LINKS.feed(_Reader),
        LINKS.data_export(_Reader),
        LINKS.digest(3, _Reader.link_key),
        pick.url,
        pick.resource("pdf"),
        pick.feedback("more"),
    ):
        line = f'127.0.0.1 - - "GET {url} HTTP/1.1" 200'
        masked = redact(line)
        assert "[token]" in masked and url.split("/")[4].split(".")[0] not in masked, url


def test_a_cut_off_or_forged_token_is_masked_too_and_other_paths_are_left_alone():
    assert redact("GET /unsubscribe/not-even-a-token?x=1") == "GET /unsubscribe/[token]?x=1"
    assert redact("GET /assets/paperboy.css") == "GET /assets/paperboy.css"
    assert redact("GET /preferences HTTP/1.1") == "GET /preferences HTTP/1.1"


def test_application_logs_and_tracebacks_are_masked():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("redact-test")
    logger.addHandler(handler)
    logger.propagate = False
    token_url = LINKS.preferences(_Reader)
    try:
        raise ValueError(f"could not open {token_url}")
    except ValueError:
        logger.exception("unhandled error on GET %s", token_url)
    entry = json.loads(stream.getvalue())
    secret = token_url.rsplit("/", 1)[1]
    assert secret not in entry["msg"] and secret not in entry["exc"]
    assert "/preferences/[token]" in entry["msg"] and "/preferences/[token]" in entry["exc"]
