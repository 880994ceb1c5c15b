"""Recommender at scale on synthetic data, JSON on stdout, each figure beside a baseline from the same run.

scoring   the production hybrid scoring 100k subscribers x 200 new papers, batched matrix products + top-N,
          against a naive per-subscriber loop (timed on a sample, extrapolated to the same population)
als       implicit ALS (conjugate gradient, the production solver) on synthetic power-law interactions, against
          implicit's exact Cholesky solver on the same matrix; 1M interactions by default, ``--big`` adds
          1M users x 100k papers x 10M interactions

  OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/recommend.py [--subscribers 100000] [--papers 200] [--big]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from service.recommend.als import ALSParams, fit_als  # noqa: E402
from service.recommend.cmf import CollectiveFactors  # noqa: E402
from service.recommend.content import TextVectorizer  # noqa: E402
from service.recommend.hybrid import HybridModel, HybridParams  # noqa: E402


def synthetic_model(n_users: int, vocab: int, k: int, f: int, rng: np.random.Generator) -> HybridModel:
    """A model with the production shapes (what a real training would save), filled with random numbers."""
    params = HybridParams(als=ALSParams(factors=f), cmf=ALSParams(factors=f), cmf_alphas=[20.0, 40.0])
    words = np.array([f"w{i}" for i in range(vocab)])
    vectorizer = TextVectorizer(words, rng.uniform(1, 8, vocab).astype(np.float32))
    profiles = sp.random(n_users, vocab, density=60 / vocab, format="csr", dtype=np.float32, random_state=rng)
    rand = lambda *s: rng.standard_normal(s, dtype=np.float32)  # noqa: E731
    cmf = CollectiveFactors(
        rand(n_users, 2 * f),
        rand(vocab, 2 * f) * 0.1,
        rand(10, 2 * f),
        np.eye(2 * f, dtype=np.float32) * 50,
        np.array([f, f]),
    )  # two blocks, as in production
    return HybridModel(params, vectorizer, rand(vocab, k) * 0.05, rand(10, k), profiles, rand(n_users, k),
                       np.eye(k, dtype=np.float32), rand(n_users, f), rand(10, f), rand(k, f) * 0.1, cmf)  # fmt: skip


def bench_scoring(n_users: int, n_papers: int, top_n: int, sample: int, batch: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    model = synthetic_model(n_users, vocab=20_000, k=400, f=128, rng=rng)
    features = sp.random(n_papers, 20_000, density=80 / 20_000, format="csr", dtype=np.float32, random_state=rng)
    # batched: text-space projections once, then one product per component per batch of subscribers
    start = time.perf_counter()
    views = model.item_views(features)
    best = np.empty((n_users, top_n), dtype=np.int64)
    for lo in range(0, n_users, batch):
        users = np.arange(lo, min(n_users, lo + batch))
        scores = model.score(users, views)
        top = np.argpartition(-scores, top_n - 1, axis=1)[:, :top_n]
        best[users] = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), 1), 1)
    batched_s = time.perf_counter() - start
    # naive: one subscriber at a time (the paper side precomputed too, so only the batching differs)
    start = time.perf_counter()
    views = model.item_views(features)
    for u in range(sample):
        s = model.score(np.array([u]), views)[0]
        np.argsort(-s)[:top_n]
    naive_sample_s = time.perf_counter() - start
    return {
        "subscribers": n_users,
        "papers": n_papers,
        "batched_s": round(batched_s, 3),
        "batched_subscribers_per_s": round(n_users / batched_s),
        "naive_sample": sample,
        "naive_extrapolated_s": round(naive_sample_s / sample * n_users, 2),
        "speedup": round(naive_sample_s / sample * n_users / batched_s, 1),
    }


def bench_rank_digest(n_subs: int, n_papers: int, seed: int, clicks: int = 5) -> dict:
    """The full per-subscriber path on SQLite (queries, filters, MMR, reasons) beside the bare batched scoring."""
    import datetime as dt
    import tempfile

    from service.models import Interaction, Paper, Subscriber
    from service.recommend import rank_digest, train_model
    from service.recommend.loader import load_candidates
    from service.recommend.store import latest_model
    from service.runtime import Runtime

    rng = np.random.default_rng(seed)
    vocab = [f"term{i}" for i in range(3000)]
    tmp = Path(tempfile.mkdtemp(prefix="paperboy-bench-"))
    rt = Runtime.from_env({"INSTANCE_DIR": tmp, "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "SECRET_KEY": "x"})
    rt.db.upgrade()
    n_old = 2 * n_papers
    with rt.db.session() as s:
        papers = [
            Paper(title=" ".join(rng.choice(vocab, 8)), title_key=f"p{i}", abstract=" ".join(rng.choice(vocab, 80)),
                  upvotes=int(rng.integers(0, 50)))
            for i in range(n_old + n_papers)
        ]  # fmt: skip
        s.add_all(papers)
        subs = [Subscriber(email=f"r{i}@example.org", status="confirmed", papers_per_email=10) for i in range(n_subs)]
        s.add_all(subs)
        s.flush()
        rows = [dict(subscriber_id=sub.id, paper_id=papers[int(j)].id, kind="click")
                for sub in subs for j in rng.choice(n_old, clicks, replace=False)]  # fmt: skip
        if rows:
            s.execute(Interaction.__table__.insert(), rows)
        sub_ids, new_ids = [x.id for x in subs], [p.id for p in papers[n_old:]]
    train = train_model(rt)
    with rt.db.session() as s:
        stored = latest_model(s)
        start = time.perf_counter()
        _, side = load_candidates(s, new_ids, stored)
        known = np.array([stored.user_row[u] for u in sub_ids if u in stored.user_row], dtype=np.int64)
        stored.model.score(known, side.views)
        score_s = time.perf_counter() - start
        start = time.perf_counter()
        picks = rank_digest(rt, s, sub_ids, new_ids, dt.date(2025, 1, 1))
        rank_s = time.perf_counter() - start
    rt.close()
    return {"subscribers": n_subs, "papers": n_papers, "train_s": train["fit_s"], "score_only_s": round(score_s, 3),
            "rank_digest_s": round(rank_s, 3), "rank_digest_subscribers_per_s": round(n_subs / rank_s),
            "picks_per_subscriber": round(sum(map(len, picks.values())) / n_subs, 2)}  # fmt: skip


def synthetic_interactions(n_users: int, n_items: int, nnz: int, seed: int) -> sp.csr_matrix:
    """Power-law item popularity and user activity, like real clicks; duplicates summed."""
    rng = np.random.default_rng(seed)
    item_p = 1.0 / np.arange(1, n_items + 1) ** 0.8
    item_p /= item_p.sum()
    user_p = rng.pareto(1.5, n_users) + 1.0
    user_p /= user_p.sum()
    users = rng.choice(n_users, size=nnz, p=user_p)
    items = rng.choice(n_items, size=nnz, p=item_p)
    m = sp.csr_matrix((np.ones(nnz, np.float32), (users, items)), shape=(n_users, n_items))
    m.sum_duplicates()
    return m


def bench_als(n_users: int, n_items: int, nnz: int, factors: int, iterations: int, baseline: bool) -> dict:
    start = time.perf_counter()
    conf = synthetic_interactions(n_users, n_items, nnz, seed=1)
    gen_s = time.perf_counter() - start
    params = ALSParams(factors=factors, iterations=iterations, regularization=0.1, alpha=10.0)
    start = time.perf_counter()
    fit_als(conf, params)
    cg_s = time.perf_counter() - start
    out = {"users": n_users, "items": n_items, "interactions": int(conf.nnz), "factors": factors,
           "iterations": iterations, "generate_s": round(gen_s, 2), "cg_fit_s": round(cg_s, 2)}  # fmt: skip
    if baseline:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        model = AlternatingLeastSquares(factors=factors, iterations=iterations, regularization=0.1, alpha=10.0,
                                        use_cg=False, random_state=42)  # fmt: skip
        start = time.perf_counter()
        with threadpool_limits(1, "blas"):
            model.fit(conf, show_progress=False)
        out["cholesky_fit_s"] = round(time.perf_counter() - start, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--papers", type=int, default=200)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--naive-sample", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--big", action="store_true", help="also ALS on 1M users x 100k papers x 10M interactions")
    ap.add_argument("--skip-als", action="store_true")
    ap.add_argument("--digest-subscribers", type=int, default=2000, help="rank_digest end to end on SQLite")
    args = ap.parse_args()
    report: dict = {"cpus": os.cpu_count()}
    report["scoring"] = bench_scoring(args.subscribers, args.papers, args.top, args.naive_sample, args.batch, 0)
    report["rank_digest"] = bench_rank_digest(args.digest_subscribers, args.papers, 0)
    report["rank_digest_new_readers"] = bench_rank_digest(args.digest_subscribers, args.papers, 0, clicks=0)
    if not args.skip_als:
        report["als_1m"] = bench_als(100_000, 20_000, 1_000_000, args.factors, args.iterations, baseline=True)
        if args.big:
            report["als_10m"] = bench_als(1_000_000, 100_000, 10_000_000, args.factors, args.iterations, False)
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
