"""``../shared/cases/one-paper-digest``: a day with exactly one paper. The subject names that paper without
"and 0 more", and every count in the email agrees with one."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from pathlib import Path

from service.digest import send_due_digests
from service.ingest import ingest_targets
from service.runtime import Runtime
from service.subscribers.lifecycle import create_confirmed

DAY = dt.date(2026, 7, 31)  # the listing's own date: its paper is news on that day, not today
TITLE = "The Only Placeholder Paper Today"
# A count next to a word in the plural: "1 papers", "1 upvotes", "1 authors", "1 more"...
ONE_WITH_PLURAL = re.compile(r"(?<![\d.,])1 (?:more|[a-z]+s)\b")


def _digest(rt: Runtime) -> email.message.EmailMessage:
    [path] = sorted(Path(rt.settings.OUTBOX_DIR).glob("*.eml"))
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def test_a_one_paper_day_names_its_paper_in_singular(runtime: Runtime, shared_dir: Path) -> None:
    report = ingest_targets(runtime, [str(shared_dir / "cases" / "one-paper-digest" / "2026-07-31.json")])
    assert report.new_papers == 1 and not report.failed
    with runtime.db.session() as session:
        create_confirmed(session, "reader@example.com", topics=["placeholders"])

    sent = send_due_digests(runtime, DAY)

    assert sent["sent"] == 1, sent
    message = _digest(runtime)
    subject = message["Subject"]
    assert subject == f"Paperboy · Fri 31 Jul: {TITLE}"
    assert "more" not in subject
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "1. The Only Placeholder Paper Today" in text and "\n2. " not in text
    assert "arXiv:2607.90001" in text and "▲ 3 upvotes" in text and text.count("3 upvotes") == 1
    for body in (subject, text, re.sub(r"<[^>]+>", " ", html)):
        assert not ONE_WITH_PLURAL.search(body), ONE_WITH_PLURAL.search(body)
        assert "and 0 more" not in body and " 0 " not in body
