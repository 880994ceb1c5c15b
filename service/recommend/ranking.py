"""The ranker's pure half: from one batch's arrays to each reader's picks. No database, no model files here.

``score_batch`` turns the inputs into one score per (reader, candidate) as a sum of named parts, each a
calibrated input (``RankWeights``): the model's learned score, shrunk by how much the reader has told it
(n / (n + n_half) for n liked papers, so one click refines stated interests and never erases them); stated
topics and keywords, matched in the model's text space; trending; "less like this" as a penalty. ``pick_batch``
then fills exactly ``papers_per_email`` slots: followed authors pinned, the learned ranking diversified with MMR,
one exploration slot, trending slots, each pick with the reason its largest part gives (``reasons.py``).

Readers whose inputs are identical (no history, same preferences, scores and blocks: typically new readers)
share the work; only the exploration draw is per reader and day (a hash of reader, day and paper).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np

from service.recommend.hybrid import standardise
from service.recommend.inputs import Batch, Candidates, Pick, RankWeights, Reader


def stated_match(reader: Reader, c: int, weights: RankWeights) -> np.ndarray:
    """(c,) the best match of any stated topic (its cosine, when above ``topic_match``) or include keyword (1)."""
    out = np.zeros(c, np.float32)
    for match in reader.topic_match:
        np.maximum(out, np.where(match >= weights.topic_match, match, 0.0), out=out)
    for hits in reader.keyword_hits:
        np.maximum(out, hits.astype(np.float32), out=out)
    return out


def score_batch(batch: Batch, cands: Candidates, weights: RankWeights) -> np.ndarray:
    """(R, c) scores, the sum of ``batch.parts`` (also filled here): learned, stated, include, trending, less."""
    r, c = batch.learned.shape
    learned = batch.learned
    spread = learned.std(axis=1, keepdims=True)
    unit = np.divide(learned - learned.mean(axis=1, keepdims=True), spread, out=np.zeros_like(learned),
                     where=spread > 1e-9)  # fmt: skip
    evidence = np.array([rd.evidence for rd in batch.readers], dtype=np.float32)
    shrink = (weights.learned * evidence / (evidence + weights.learned_half))[:, None]
    batch.learned_scale = np.divide(shrink[:, 0], spread[:, 0], out=np.zeros(r, np.float32), where=spread[:, 0] > 1e-9)
    stated = np.zeros((r, c), np.float32)
    include = np.zeros((r, c), np.float32)
    memo: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for i, reader in enumerate(batch.readers):
        key = (reader.prefs.topics, reader.prefs.include)
        if not key[0] and not key[1]:
            continue
        if key not in memo:
            match = stated_match(reader, c, weights)
            z = np.minimum(standardise(match[None, :])[0], weights.stated_cap) if match.any() else match
            hits = np.zeros(c, np.float32)
            for h in reader.keyword_hits:
                np.maximum(hits, h.astype(np.float32), out=hits)
            memo[key] = (z, hits)
        stated[i], include[i] = memo[key]
    batch.parts = {
        "learned": (shrink * unit).astype(np.float32),
        "stated": weights.stated * stated,
        "include": weights.include * include,
        "trending": np.broadcast_to(weights.trending * cands.trend.astype(np.float32), (r, c)),
        "less": -weights.less_penalty * batch.penalty.astype(np.float32),
    }
    total = np.zeros((r, c), np.float32)
    for part in batch.parts.values():
        total += part
    return total


# --- picking ----------------------------------------------------------------------------------------------------


@dataclass
class _Head:
    """What is decided before the exploration draw (the same for readers with identical inputs)."""

    followed: list[tuple[int, str]]  # (candidate, name as the reader wrote it)
    for_you: list[int]
    trending: list[int]  # the trending slots' papers: the most trending of those still allowed
    free: np.ndarray  # (c,) still allowed after all of them
    base: np.ndarray  # (c,) novelty + explore_trend x trend: the exploration value before the noise
    explore: bool
    room: int  # slots left after followed, for_you, trending and exploration


def slots(n: int, weights: RankWeights) -> tuple[int, int]:
    """(exploration slots, trending slots) of an email of ``n`` papers: all slots count, trending included."""
    explore = 1 if n >= weights.explore_from else 0
    return explore, min(weights.max_trending, n // weights.trending_every)


def pick_batch(
    batch: Batch, score: np.ndarray, cands: Candidates, day: dt.date, weights: RankWeights
) -> list[list[Pick]]:
    """The picks of each reader of ``batch`` (scored by ``score_batch``): at most ``papers_per_email`` each."""
    from service.recommend.reasons import Reasons

    readers, allowed = batch.readers, batch.allowed
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(readers):
        own = r.because is not None or r.evidence
        key = (i,) if own else (r.prefs, score[i].tobytes(), allowed[i].tobytes())
        groups.setdefault(key, []).append(i)
    members = list(groups.values())
    firsts = [m[0] for m in members]
    heads = _heads([readers[i] for i in firsts], score[firsts], allowed[firsts], cands, weights)
    noise = explore_noise([r.id for r in readers], day, cands.ids)
    reasons = Reasons(batch, cands, weights)
    ids = cands.ids.tolist()
    out: list[list[Pick]] = [[] for _ in readers]
    for head, group in zip(heads, members, strict=True):
        first = group[0]
        top = [Pick(ids[j], float(score[first, j]), f"new from {name}, whom you follow", "followed")
               for j, name in head.followed]  # fmt: skip
        top += [Pick(ids[j], float(score[first, j]), why, "for_you")
                for j, why in zip(head.for_you, reasons.of(first, head.for_you), strict=True)]  # fmt: skip
        explored = _explore(head, noise[group], weights) if head.explore else [-1] * len(group)
        tails: dict[int, list[Pick]] = {}  # by exploration pick: readers of a group share most of them
        for i, j in zip(group, explored, strict=True):
            if j not in tails:
                tails[j] = _tail(head, j, score[first], cands, reasons, first)
            out[i] = top + tails[j]
    return out


def _heads(
    readers: list[Reader], score: np.ndarray, allowed: np.ndarray, cands: Candidates, weights: RankWeights
) -> list[_Head]:
    """Followed authors, then MMR over each reader's pool, for all readers at once."""
    n = np.array([r.prefs.n for r in readers])
    taken = np.zeros_like(allowed)
    closest = np.zeros(score.shape, dtype=np.float32)  # similarities are >= 0: zero stands for "nothing picked"
    followed: list[list[tuple[int, str]]] = []
    for i, r in enumerate(readers):
        hits = _followed(r, score[i], allowed[i], cands) if r.prefs.followed else []
        followed.append(hits)
        if hits:
            js = [j for j, _ in hits]
            taken[i, js] = True
            closest[i] = cands.similarity_t[js].max(axis=0)
    explore_slots, trending_slots = np.array([slots(int(k), weights) for k in n], dtype=np.int64).reshape(-1, 2).T
    n_followed = np.array([len(f) for f in followed])
    trending_here = np.array([min(t, int((allowed[i] & ~taken[i])[cands.trend_order].sum()))
                              for i, t in enumerate(trending_slots.tolist())], dtype=np.int64)  # fmt: skip
    quota = np.maximum(0, n - explore_slots - trending_here - n_followed)
    size = np.maximum(weights.pool_factor * n, weights.pool_min)
    pool, valid, rel_n = _pools(score, allowed & ~taken, size)
    chosen = _mmr(pool, valid, rel_n, np.minimum(valid.sum(axis=1), quota), closest, cands.similarity_t, weights)
    rows, steps = np.nonzero(chosen >= 0)
    taken[rows, chosen[rows, steps]] = True
    free = allowed & ~taken
    used = n_followed + (chosen >= 0).sum(axis=1)
    explore = (explore_slots > 0) & (used < n) & free.any(axis=1)
    base = (1 - closest) + weights.explore_trend * cands.trend
    heads = []
    for i in range(len(readers)):
        room = int(n[i] - used[i] - explore[i])
        trending = [j for j in cands.trend_order if free[i, j]][: min(int(trending_here[i]), room)]
        free[i, trending] = False
        explore_i = bool(explore[i] and free[i].any())
        room = int(n[i] - used[i] - explore_i - len(trending))
        heads.append(_Head(followed[i], [j for j in chosen[i].tolist() if j >= 0], trending, free[i], base[i],
                           explore_i, room))  # fmt: skip
    return heads


def _followed(reader: Reader, score: np.ndarray, allowed: np.ndarray, cands: Candidates) -> list[tuple[int, str]]:
    """Allowed papers by followed authors, best first (pinned), as (candidate, name as the reader wrote it)."""
    followed = dict(reader.prefs.followed)
    hits = sorted({j for a in followed for j in cands.by_author.get(a, ()) if allowed[j]})
    if not hits:
        return []
    order = [hits[k] for k in np.argsort(-score[hits], kind="stable").tolist()][: reader.prefs.n]
    return [(j, next(followed[a] for a in sorted(cands.authors[j]) if a in followed)) for j in order]


def _pools(score: np.ndarray, free: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each reader's MMR pool: their ``size`` best free candidates (stable order), left-aligned in (R, P).

    Returns the pool, which of its entries are real (the rest is padding), and relevance scaled to [0, 1] within
    the pool (all ones when it has no spread).
    """
    order = np.argsort(-score, axis=1, kind="stable")
    ranked_free = np.take_along_axis(free, order, axis=1)
    keep = ranked_free & (np.cumsum(ranked_free, axis=1) <= size[:, None])
    width = keep.sum(axis=1)
    widest = int(width.max(initial=0))
    pool = np.take_along_axis(order, np.argsort(~keep, axis=1, kind="stable")[:, :widest], axis=1)
    valid = np.arange(widest) < width[:, None]
    if not widest:
        return pool, valid, np.ones(pool.shape)
    rel = np.take_along_axis(score, pool, axis=1)
    lo = np.where(valid, rel, np.inf).min(axis=1)
    hi = np.where(valid, rel, -np.inf).max(axis=1)
    spread = hi > lo
    scaled = (rel - lo[:, None]) / np.where(spread, hi - lo, 1.0)[:, None]
    return pool, valid, np.where(spread[:, None], scaled, 1.0)


def _mmr(
    pool: np.ndarray, valid: np.ndarray, rel_n: np.ndarray, count: np.ndarray, closest: np.ndarray,
    sim_t: np.ndarray, weights: RankWeights,
) -> np.ndarray:  # fmt: skip
    """``count`` MMR picks per reader (Carbonell & Goldstein 1998), one step for all readers at a time;
    (R, max count), -1 padded. ``closest`` (R, c): each candidate's highest similarity to a reader's picks so far,
    updated in place."""
    steps = int(count.max(initial=0))
    out = np.full((len(pool), steps), -1)
    open_ = valid.copy()
    lam = weights.mmr_lambda
    for t in range(steps):
        act = np.flatnonzero(count > t)
        red = np.take_along_axis(closest[act], pool[act], axis=1)
        mmr = lam * rel_n[act] - (1 - lam) * red
        mmr[~open_[act]] = -np.inf
        k = mmr.argmax(axis=1)
        open_[act, k] = False
        j = pool[act, k]
        out[act, t] = j
        closest[act] = np.maximum(closest[act], sim_t[j])
    return out


def _explore(head: _Head, noise: np.ndarray, weights: RankWeights) -> list[int]:
    """The exploration pick of each reader of a group (rows of ``noise``): novel, well-liked, plus their noise."""
    value = head.base + noise * weights.explore_noise
    value[:, ~head.free] = -np.inf
    return value.argmax(axis=1).tolist()


def _tail(
    head: _Head, explored: int, score: np.ndarray, cands: Candidates, reasons, row: int
) -> list[Pick]:  # fmt: skip
    """The exploration pick (``explored``, -1 for none), the trending slots, then the best free candidates for any
    slot still empty (too few trending papers), so the email holds exactly its number of papers when it can."""
    from service.recommend.reasons import EXPLORE_REASON

    ids = cands.ids.tolist()
    out = []
    free = head.free.copy()
    if explored >= 0:
        out.append(Pick(ids[explored], float(score[explored]), EXPLORE_REASON, "explore"))
        free[explored] = False
    for j in head.trending:
        out.append(Pick(ids[j], float(cands.trend_raw[j]), cands.trend_reasons[j], "trending"))
    if head.room > 0 and free.any():
        rest = np.flatnonzero(free)
        fill = rest[np.argsort(-score[rest], kind="stable")][: head.room].tolist()
        out += [Pick(ids[j], float(score[j]), why, "for_you")
                for j, why in zip(fill, reasons.of(row, fill), strict=True)]  # fmt: skip
    return out


def _seed(subscriber_id: int, day: dt.date) -> int:
    return int.from_bytes(hashlib.sha256(f"{subscriber_id}:{day.isoformat()}".encode()).digest()[:8], "big")


def explore_noise(reader_ids: list[int], day: dt.date, paper_ids: np.ndarray) -> np.ndarray:
    """(readers, papers) standard Gumbel noise, a pure function of (reader, day, paper).

    The same digest on a re-run, another exploration pick the next day; a hash instead of a random generator per
    reader (whose construction cost more than the rest of a new reader's ranking), computed for a batch at once.
    """
    seeds = np.array([_seed(r, day) for r in reader_ids], dtype=np.uint64)
    bits = mix64(seeds[:, None] ^ mix64(np.asarray(paper_ids).astype(np.uint64))[None, :])
    noise = (bits >> 11).astype(np.float64)  # 53 random bits
    noise += 0.5
    noise *= 2.0**-53  # uniform, strictly inside (0, 1)
    np.log(noise, out=noise)
    np.log(-noise, out=noise)
    return np.negative(noise, out=noise)  # in place: a batch's (readers, papers) arrays are the largest here


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place (uint64, wrapping): each input bit flips about half of the output bits."""
    x ^= x >> 30
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> 27
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> 31
    return x
