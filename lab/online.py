"""Online check: click-through of personalised digests against a trending-only digest, over simulated days.

Simulated subscribers (``service.simulate``) have hidden tastes and a public click model, so each arm's
*expected* clicks per email are computed exactly (no sampling noise in the comparison). Each day both arms see
the same new papers; the personalised arm's readers then click (sampled from the click model) and those clicks
are recorded, so the model retrained each night learns from them, as in production. The trending arm never
changes: it is the digest a non-personalised newsletter would send.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from service.recommend.blend import rank_digest
from service.simulate import click_probability, paper_text
from sqlalchemy import select

from service.models import Interaction, Paper, Subscriber
from service.recommend.train import train_model
from service.recommend.trending import trending_for
from service.runtime import Runtime


def online_check(
    rt: Runtime, days: int = 3, seed: int = 0, start: dt.date | None = None, per_day: int | None = None
) -> dict[str, Any]:
    """Run ``days`` simulated days on the simulated subscribers in the database; returns both arms' CTR."""
    rng = np.random.default_rng(seed)
    start = start or dt.date.today()
    with rt.db.session() as s:
        readers = s.scalars(
            select(Subscriber).where(Subscriber.is_simulated.is_(True), Subscriber.status == "confirmed")
        ).all()
        profiles = {r.id: r.simulation_profile for r in readers if r.simulation_profile}
        sizes = {r.id: max(1, int(r.papers_per_email or 10)) for r in readers}
        sent = set(s.execute(select(Interaction.subscriber_id, Interaction.paper_id).where(
            Interaction.kind == "sent")).all())  # fmt: skip
        papers = s.scalars(select(Paper).order_by(Paper.id)).all()
        texts = {p.id: paper_text(p) for p in papers}
    if not profiles:
        raise ValueError("no simulated subscribers: run `paperboy simulate` first")
    unsent = [p.id for p in papers if sum((sid, p.id) in sent for sid in profiles) < len(profiles)]
    pool = list(rng.permutation(unsent)) if unsent else []
    per_day = per_day or max(1, len(pool) // max(1, days))
    report_days: list[dict[str, Any]] = []
    totals = {"personalised": 0.0, "trending": 0.0, "slots": 0}
    for d in range(days):
        day = start + dt.timedelta(days=d)
        candidates = [int(x) for x in pool[d * per_day : (d + 1) * per_day]]
        if not candidates:
            break
        train_model(rt)
        with rt.db.session() as s:
            picks = rank_digest(rt, s, list(profiles), candidates, day)
            trend = trending_for(s, [s.get(Paper, pid) for pid in candidates])
        trending_order = [candidates[j] for j in np.argsort(-trend.scores, kind="stable")]
        day_report = {"date": day.isoformat(), "candidates": len(candidates), "personalised": 0.0, "trending": 0.0}
        events: list[Interaction] = []
        for sid, profile in profiles.items():
            n = sizes[sid]
            mine = [p.paper_id for p in picks.get(sid, []) if p.section != "trending"][:n]
            if len(mine) < n:  # top up from the day's trending papers, as the digest would
                mine += [pid for pid in trending_order if pid not in mine and (sid, pid) not in sent][: n - len(mine)]
            baseline = [pid for pid in trending_order if (sid, pid) not in sent][:n]
            k = min(len(mine), len(baseline))
            if k == 0:
                continue
            p_mine = [click_probability(profile, texts[pid], pos) for pos, pid in enumerate(mine[:k], 1)]
            p_base = [click_probability(profile, texts[pid], pos) for pos, pid in enumerate(baseline[:k], 1)]
            day_report["personalised"] += sum(p_mine)
            day_report["trending"] += sum(p_base)
            totals["slots"] += k
            for pos, (pid, prob) in enumerate(zip(mine[:k], p_mine, strict=True), 1):
                sent.add((sid, pid))
                when = dt.datetime.combine(day, dt.time(8, 0))
                events.append(Interaction(subscriber_id=sid, paper_id=pid, kind="sent", position=pos, created_at=when))
                if rng.random() < prob:
                    events.append(Interaction(subscriber_id=sid, paper_id=pid, kind="click", position=pos,
                                              created_at=when + dt.timedelta(hours=1)))  # fmt: skip
        with rt.db.session() as s:
            s.add_all(events)
        totals["personalised"] += day_report["personalised"]
        totals["trending"] += day_report["trending"]
        report_days.append({k: round(v, 4) if isinstance(v, float) else v for k, v in day_report.items()})
    slots = max(1, totals["slots"])
    ctr_p, ctr_t = totals["personalised"] / slots, totals["trending"] / slots
    return {
        "subscribers": len(profiles),
        "days": report_days,
        "ctr_personalised": round(ctr_p, 4),
        "ctr_trending": round(ctr_t, 4),
        "lift": round(ctr_p / ctr_t, 3) if ctr_t else None,
        "slots": totals["slots"],
    }
