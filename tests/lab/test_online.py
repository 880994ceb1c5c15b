"""The online check: on simulated readers, personalised digests get more clicks than a trending-only digest."""

from __future__ import annotations

import datetime as dt

from service.recommend.online import online_check
from service.simulate import simulate_population
from sqlalchemy import func, select

from service.models import Interaction, Paper
from tests.recommend.fixtures import TOPICS, make_paper


def test_personalised_digests_beat_trending_only(runtime):
    with runtime.db.session() as s:
        for t in TOPICS:
            for n in range(30):
                paper = make_paper(t, n, upvotes=(n * 7) % 23)
                paper.listing_date = dt.date(2025, 2, 1) + dt.timedelta(days=n % 6)
                s.add(paper)
    simulate_population(runtime, n_subscribers=24, days=4, seed=3, today=dt.date(2025, 2, 10))
    report = online_check(runtime, days=3, seed=3, start=dt.date(2025, 2, 10), per_day=20)
    assert report["subscribers"] == 24 and len(report["days"]) == 3
    assert report["ctr_personalised"] > report["ctr_trending"] > 0
    assert report["lift"] > 1.1
    with runtime.db.session() as s:  # the personalised arm's clicks were recorded for the nightly training
        assert s.scalar(select(func.count()).select_from(Interaction).where(Interaction.created_at >= dt.datetime(
            2025, 2, 10))) > 0  # fmt: skip
        assert s.scalar(select(func.count()).select_from(Paper)) == 120


def test_online_check_command_reports_both_arms(runtime):
    from click.testing import CliRunner

    from service.recommend.commands import online_check as command

    with runtime.db.session() as s:
        for t in TOPICS:
            for n in range(12):
                paper = make_paper(t, n, upvotes=n)
                paper.listing_date = dt.date(2025, 2, 1) + dt.timedelta(days=n % 3)
                s.add(paper)
    simulate_population(runtime, n_subscribers=8, days=2, seed=1, today=dt.date(2025, 2, 10))
    result = CliRunner().invoke(command, ["--days", "2", "--json"], obj={"runtime": runtime})
    assert result.exit_code == 0, result.output
    import json

    report = json.loads(result.output)
    assert report["subscribers"] == 8 and report["ctr_personalised"] > 0 and report["ctr_trending"] > 0


def test_online_check_needs_simulated_subscribers(runtime):
    from click.testing import CliRunner

    from service.recommend.commands import online_check as command

    result = CliRunner().invoke(command, [], obj={"runtime": runtime})
    assert result.exit_code != 0 and "paperboy simulate" in result.output
