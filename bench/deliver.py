"""Benchmark: digests rendered per second, and digests delivered per second to a local SendGrid sink side by
side with the raw POST rate this machine reaches against the same sink (same concurrency, keep-alive).

    .venv/bin/python bench/deliver.py [--subscribers 300] [--papers 30] [--concurrency 8]

Prints one JSON object on stdout. The sink runs in its own process so it does not share our GIL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import select  # noqa: E402

from service.digest.build import load_papers, rank_for, render_loaded  # noqa: E402
from service.digest.send import send_due_digests  # noqa: E402
from service.mail.backends.sendgrid import v3_body  # noqa: E402
from service.mail.message import outgoing  # noqa: E402
from service.models import Delivery, Paper, Subscriber, utcnow  # noqa: E402
from service.runtime import Runtime  # noqa: E402
from tools.sendgrid_sink import start_sink_process  # noqa: E402

DAY = dt.date(2025, 6, 3)


def populate(rt: Runtime, n_subscribers: int, n_papers: int) -> None:
    with rt.db.session() as session:
        for i in range(n_papers):
            session.add(
                Paper(
                    title_key=f"bench-{i}",
                    title=f"Benchmark paper {i}: scaling <laws> & $\\alpha$-divergences for retrieval",
                    abstract=("We study retrieval models and ranking objectives at scale. " * 8),
                    authors=[f"Author {i}", "Grace Hopper", "Alan Turing", "Ada Lovelace"],
                    author_count=4,
                    listing_date=DAY,
                    first_seen_at=dt.datetime.combine(DAY, dt.time(6)),
                    upvotes=200 - i,
                    github_repo="owner/repo",
                    url=f"https://arxiv.org/abs/2506.{i:05d}",
                )
            )
        for i in range(n_subscribers):
            session.add(Subscriber(email=f"reader{i}@example.com", status="confirmed", confirmed_at=utcnow()))


def bench_render(rt: Runtime, rounds: int) -> dict[str, float]:
    """Render (context, Jinja HTML + text, MIME bytes) every planned digest ``rounds`` times."""
    with rt.db.session() as session:
        subscribers = list(session.scalars(select(Subscriber).order_by(Subscriber.id)))
        picks = rank_for(rt, session, subscribers, DAY)
        deliveries = []
        for s in subscribers:
            d = Delivery(id=s.id, subscriber_id=s.id, digest_date=DAY, status="planned", picks=picks[s.id])
            deliveries.append(d)
        papers = load_papers(session, deliveries)
        by_sub = {s.id: s for s in subscribers}
        render_loaded(rt, deliveries[0], by_sub[deliveries[0].subscriber_id], papers)  # template load + inlining
        start = time.perf_counter()
        count = 0
        for _ in range(rounds):
            for d in deliveries:
                rendered = render_loaded(rt, d, by_sub[d.subscriber_id], papers)
                outgoing(
                    rendered, to=by_sub[d.subscriber_id].email, from_=rt.settings.MAIL_FROM, delivery_id=d.id
                ).to_mime().as_bytes()
                count += 1
        elapsed = time.perf_counter() - start
        sample = outgoing(
            render_loaded(rt, deliveries[0], by_sub[deliveries[0].subscriber_id], papers),
            to="reader0@example.com",
            from_=rt.settings.MAIL_FROM,
            delivery_id=1,
        )
    return {
        "digests": count,
        "seconds": round(elapsed, 3),
        "per_second": round(count / elapsed, 1),
        "_sample": v3_body(sample),
    }


def bench_raw_posts(url: str, body: dict, concurrency: int, total: int) -> dict[str, float]:
    """The ceiling: the same JSON body POSTed over keep-alive connections by ``concurrency`` threads."""
    data = json.dumps(body).encode()
    host = url.split("://", 1)[1]
    per_thread = total // concurrency
    headers = {"Authorization": "Bearer SG.bench", "Content-Type": "application/json"}
    errors: list[int] = []

    def run() -> None:
        conn = http.client.HTTPConnection(host, timeout=30)
        for _ in range(per_thread):
            conn.request("POST", "/v3/mail/send", body=data, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 202:
                errors.append(response.status)
        conn.close()

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    n = per_thread * concurrency
    return {"posts": n, "errors": len(errors), "seconds": round(elapsed, 3), "per_second": round(n / elapsed, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=300)
    parser.add_argument("--papers", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--render-rounds", type=int, default=2)
    args = parser.parse_args()

    sink, url = start_sink_process("--no-record")
    try:
        with tempfile.TemporaryDirectory(prefix="paperboy-bench-") as tmp:
            rt = Runtime.from_env(
                {
                    "INSTANCE_DIR": Path(tmp),
                    "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
                    "SECRET_KEY": "bench-secret",
                    "CELERY_BROKER_URL": "",
                    "EMAIL_BACKEND": "sendgrid",
                    "SENDGRID_API_KEY": "SG.bench",
                    "SENDGRID_API_HOST": url,
                    "SENDGRID_CONCURRENCY": args.concurrency,
                }
            )
            rt.db.upgrade()
            populate(rt, args.subscribers, args.papers)
            render = bench_render(rt, args.render_rounds)
            sample = render.pop("_sample")

            start = time.perf_counter()
            report = send_due_digests(rt, DAY)
            elapsed = time.perf_counter() - start
            delivered = {
                "report": report,
                "seconds": round(elapsed, 3),
                "per_second": round(report["sent"] / elapsed, 1),
                "note": "end to end: plan, claim, rank, render, POST, record (SQLite)",
            }
            raw = bench_raw_posts(url, sample, args.concurrency, max(args.subscribers, 400))
            rt.close()
    finally:
        sink.terminate()
        sink.wait(10)
    result = {
        "subscribers": args.subscribers,
        "papers": args.papers,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "rendered": render,
        "delivered_to_sink": delivered,
        "raw_post_to_sink": raw,
        "delivered_vs_raw": round(delivered["per_second"] / raw["per_second"], 3),
    }
    print(json.dumps(result, indent=2))
    return 0 if report["failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
