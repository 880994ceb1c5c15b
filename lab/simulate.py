"""Simulated readers: hidden tastes, stated topics and a position-biased click history.

The simulation feeds the demo and the benchmarks. Each simulated subscriber has a hidden taste (weighted terms
drawn from topics found in the ingested papers) that decides which papers they click (``click_probability``).
Tastes built from the same words the model reads cannot test the recommender: the online check replays real
readers instead (``lab/online.py``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from service.models import Delivery, Interaction, Paper, Subscriber
from service.progress import Progress, quiet
from service.runtime import Runtime
from service.subscribers.lifecycle import create_confirmed

_WORD = re.compile(r"[a-z][a-z0-9]{2,}")
_RESEARCH_FILLER = (
    "paper",
    "propose",
    "proposed",
    "approach",
    "method",
    "methods",
    "results",
    "model",
    "models",
    "using",
    "based",
    "show",
    "shows",
    "task",
    "tasks",
    "data",
    "new",
    "work",
)
_STOP = ENGLISH_STOP_WORDS | frozenset(_RESEARCH_FILLER)
BASELINE_INTEREST = 0.03  # even an off-topic paper gets the odd click
TIME_ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "America/Los_Angeles")


def tokens(text: str) -> set[str]:
    """The words of ``text`` the click model reacts to (lower-cased, accents stripped, 3+ letters)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return {w for w in _WORD.findall(folded) if w not in _STOP}


def paper_text(paper: Paper) -> str:
    return f"{paper.title} {paper.abstract or ''}"


def affinity(profile: dict[str, Any], text: str) -> float:
    """How much a reader with ``profile`` wants a paper with ``text``: 0 (not at all) to 1."""
    words = tokens(text)
    mass = sum(weight for term, weight in profile.get("terms", {}).items() if term in words)
    return 1.0 - math.exp(-mass)


def position_bias(position: int) -> float:
    """Chance that a reader even looks at the paper at ``position`` (1-based) of an email."""
    return 1.0 / math.log2(position + 1)


def click_probability(profile: dict[str, Any], text: str, position: int) -> float:
    """Probability that the reader clicks a paper shown at ``position``: examination × attraction."""
    attraction = BASELINE_INTEREST + (1.0 - BASELINE_INTEREST) * affinity(profile, text)
    return min(1.0, float(profile.get("activity", 1.0)) * position_bias(position) * attraction)


@dataclass(frozen=True)
class Topic:
    terms: dict[str, float]  # term -> weight, strongest first

    def label(self, n: int = 2) -> list[str]:
        return list(self.terms)[:n]


def discover_topics(texts: Sequence[str], n_topics: int, seed: int, top_terms: int = 12) -> list[Topic]:
    """Topics in the papers (TF-IDF + NMF), each a handful of weighted terms: the raw material of tastes."""
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        tokenizer=lambda t: sorted(tokens(t)),
        token_pattern=None,
        lowercase=False,
        sublinear_tf=True,
        min_df=2 if len(texts) >= 20 else 1,
        max_df=0.5 if len(texts) >= 20 else 1.0,
    )
    matrix = vectorizer.fit_transform(texts)
    vocabulary = np.asarray(vectorizer.get_feature_names_out())
    k = max(1, min(n_topics, matrix.shape[0] // 4, matrix.shape[1]))
    nmf = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=400)
    with warnings.catch_warnings():  # topics good enough to draw tastes from; the warning would only alarm people
        warnings.simplefilter("ignore", ConvergenceWarning)
        nmf.fit(matrix)
    topics = []
    for component in nmf.components_:
        order = np.argsort(component)[::-1][:top_terms]
        top = component[order]
        scale = top[0] if top[0] > 0 else 1.0
        topics.append(Topic({str(vocabulary[i]): float(w / scale) for i, w in zip(order, top, strict=True) if w > 0}))
    return topics


def make_profile(topics: Sequence[Topic], rng: np.random.Generator) -> dict[str, Any]:
    """A hidden taste: a strong main topic, sometimes a second one, and how active the reader is."""
    mixture = rng.dirichlet(np.full(len(topics), 0.3))
    chosen = np.argsort(mixture)[::-1][: 2 if rng.random() < 0.5 and len(topics) > 1 else 1]
    weights = mixture[chosen] / mixture[chosen].sum()
    terms: dict[str, float] = {}
    for topic_index, share in zip(chosen, weights, strict=True):
        for term, weight in topics[int(topic_index)].terms.items():
            terms[term] = terms.get(term, 0.0) + 1.2 * float(share) * weight
    main = topics[int(chosen[0])]
    return {
        "topics": [int(i) for i in chosen],
        "terms": terms,
        "activity": round(float(rng.uniform(0.5, 1.0)), 3),
        "stated": main.label(2) if rng.random() < 0.7 else [],
    }


def _affinity_matrix(profiles: Sequence[dict[str, Any]], texts: Sequence[str]) -> np.ndarray:
    """``affinity`` for every (reader, paper) pair at once (same numbers, vectorised)."""
    vocab: dict[str, int] = {}
    for profile in profiles:
        for term in profile["terms"]:
            vocab.setdefault(term, len(vocab))
    rows, cols, vals = [], [], []
    for u, profile in enumerate(profiles):
        for term, weight in profile["terms"].items():
            rows.append(u)
            cols.append(vocab[term])
            vals.append(weight)
    user_terms = sparse.csr_matrix((vals, (rows, cols)), shape=(len(profiles), len(vocab)))
    prow, pcol = [], []
    for p, text in enumerate(texts):
        for term in tokens(text):
            if term in vocab:
                prow.append(p)
                pcol.append(vocab[term])
    paper_terms = sparse.csr_matrix((np.ones(len(prow)), (prow, pcol)), shape=(len(texts), len(vocab)))
    mass = (user_terms @ paper_terms.T).toarray()
    return 1.0 - np.exp(-mass)


def history_papers(session: Session) -> list[Paper]:
    """Papers old enough to have been in past emails: all but the latest listing (the 'new today' set)."""
    papers = list(session.scalars(select(Paper).order_by(Paper.listing_date, Paper.id)))
    dates = sorted({p.listing_date for p in papers if p.listing_date})
    if len(dates) >= 2:
        return [p for p in papers if p.listing_date and p.listing_date < dates[-1]]
    return papers[: max(1, (len(papers) * 3) // 4)]


def simulate_population(
    rt: Runtime,
    n_subscribers: int,
    days: int,
    seed: int = 0,
    *,
    papers_per_email: int = 8,
    today: dt.date | None = None,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Create ``n_subscribers`` confirmed simulated readers and ``days`` days of emails and clicks.

    ``progress`` is called once per simulated day. Raises ``ValueError`` when there are no papers to simulate on.

    Past emails show papers of the history set in a generic (upvote) order with some shuffling, so the
    history carries position bias but no personalisation. Re-running with the same seed adds nobody twice.
    """
    rng = np.random.default_rng(seed)
    today = today or dt.datetime.now(dt.UTC).date()
    with rt.db.session() as session:
        papers = history_papers(session)
        if not papers:
            raise ValueError("no papers to simulate on: ingest some pages first (paperboy ingest PATH)")
        texts = [paper_text(p) for p in papers]
        topics = discover_topics(texts, n_topics=8, seed=seed)
        profiles = [make_profile(topics, rng) for _ in range(n_subscribers)]
        subscribers: list[Subscriber] = []
        existing = set(session.scalars(select(Subscriber.email).where(Subscriber.is_simulated.is_(True))))
        for i, profile in enumerate(profiles):
            email = f"reader-{seed}-{i}@example.com"
            if email in existing:
                continue
            subscribers.append(
                create_confirmed(
                    session,
                    email,
                    topics=profile["stated"],
                    is_simulated=True,
                    simulation_profile=profile,
                    papers_per_email=int(rng.integers(5, 9)),
                    send_hour=int(rng.integers(6, 10)),
                    timezone=str(rng.choice(TIME_ZONES)),
                )
            )
        active_profiles = [s.simulation_profile for s in subscribers]
        sent, clicks = 0, 0
        if subscribers:
            sent, clicks = _simulate_history(
                session, subscribers, active_profiles, papers, texts, days, papers_per_email, rng, today, progress
            )
    return {
        "subscribers": len(subscribers),
        "days": days,
        "sent": sent,
        "clicks": clicks,
        "papers": len(papers),
        "topics": [t.label(3) for t in topics],
        "seed": seed,
    }


def _simulate_history(
    session: Session,
    subscribers: Sequence[Subscriber],
    profiles: Sequence[dict[str, Any]],
    papers: Sequence[Paper],
    texts: Sequence[str],
    days: int,
    per_email: int,
    rng: np.random.Generator,
    today: dt.date,
    progress: Progress = quiet,
) -> tuple[int, int]:
    """Each past day: a slice of the history papers, shown in upvote order (a sent digest per reader, its picks what
    it showed), clicked per the click model (clicks naming their digest)."""
    attraction = BASELINE_INTEREST + (1.0 - BASELINE_INTEREST) * _affinity_matrix(profiles, texts)
    activity = np.array([p["activity"] for p in profiles])
    upvotes = np.array([p.upvotes or 0 for p in papers], dtype=float)
    day_slices = np.array_split(np.arange(len(papers)), days)
    taken = set(
        session.execute(
            select(Delivery.subscriber_id, Delivery.digest_date).where(
                Delivery.subscriber_id.in_([s.id for s in subscribers])
            )
        ).all()
    )
    sent = clicks = 0
    for day_index, day_papers in enumerate(day_slices):
        if len(day_papers) == 0:
            progress()
            continue
        day = today - dt.timedelta(days=days - day_index)
        when = dt.datetime.combine(day, dt.time(8, 0))
        noisy = upvotes[day_papers] + rng.normal(0, 1.0, len(day_papers))
        shown = day_papers[np.argsort(-noisy)][:per_email]
        bias = np.array([position_bias(pos) for pos in range(1, len(shown) + 1)])
        probabilities = np.clip(activity[:, None] * bias[None, :] * attraction[:, shown], 0.0, 1.0)
        draws = rng.random(probabilities.shape) < probabilities
        picks = [
            {"paper_id": int(papers[int(j)].id), "position": pos, "section": "for_you", "reason": "", "score": 0.0}
            for pos, j in enumerate(shown, start=1)
        ]
        readers = [(u, s) for u, s in enumerate(subscribers) if (s.id, day) not in taken]
        deliveries = [
            Delivery(subscriber_id=s.id, digest_date=day, status="sent", picks=picks, attempts=1, planned_at=when,
                     sent_at=when)
            for _, s in readers
        ]  # fmt: skip
        session.add_all(deliveries)
        session.flush()
        rows: list[dict[str, Any]] = []
        for (u, subscriber), delivery in zip(readers, deliveries, strict=True):
            sent += len(picks)
            for pos, pick in enumerate(picks, start=1):
                if draws[u, pos - 1]:
                    rows.append(
                        dict(subscriber_id=subscriber.id, paper_id=pick["paper_id"], delivery_id=delivery.id,
                             kind="click", position=pos,
                             created_at=when + dt.timedelta(minutes=int(rng.integers(5, 600))))
                    )  # fmt: skip
                    clicks += 1
        if rows:
            session.execute(insert(Interaction), rows)
        progress(f"day {day_index + 1}")
    return sent, clicks


def simulate_clicks(rt: Runtime, delivery_ids: Iterable[int], seed: int = 0) -> int:
    """Readers of sent digests click per their hidden taste; returns the number of clicks recorded."""
    rng = np.random.default_rng(seed)
    clicks = 0
    with rt.db.session() as session:
        for delivery in session.scalars(select(Delivery).where(Delivery.id.in_(list(delivery_ids)))):
            subscriber = session.get(Subscriber, delivery.subscriber_id)
            if subscriber is None or not subscriber.simulation_profile or delivery.status != "sent":
                continue
            for position, pick in enumerate(delivery.picks or [], start=1):
                paper = session.get(Paper, pick["paper_id"])
                if paper is None:
                    continue
                if rng.random() < click_probability(subscriber.simulation_profile, paper_text(paper), position):
                    session.add(
                        Interaction(
                            subscriber_id=subscriber.id,
                            paper_id=paper.id,
                            kind="click",
                            delivery_id=delivery.id,
                            position=position,
                        )
                    )
                    clicks += 1
    return clicks
