"""The nightly Celery task trains a model version; the fold-in task updates one subscriber."""

from __future__ import annotations

from sqlalchemy import select

from service.models import ModelVersion
from tests.recommend.fixtures import add_events, add_papers, add_subscriber


def test_nightly_task_trains_and_fold_in_task_runs(runtime, monkeypatch):
    import workers.tasks.train as tasks

    monkeypatch.setattr(tasks, "get_runtime", lambda: runtime)
    with runtime.db.session() as s:
        ids = add_papers(s, "graphs", 6) + add_papers(s, "speech", 6)
        sub = add_subscriber(s, "ivy@example.org")
        add_events(s, sub, ids[:3], "click")
    report = tasks.train_model.apply().get()
    assert report["status"] == "ready" and report["n_interactions"] == 3
    assert tasks.train_model.name == "workers.tasks.train.train_model"  # the name the beat schedule uses
    with runtime.db.session() as s:
        add_events(s, sub, ids[6:9], "click")
        assert s.scalars(select(ModelVersion.status)).all() == ["ready"]
    folded = tasks.fold_in_clicks.apply(args=[sub]).get()
    assert folded["status"] == "ok" and folded["n_interactions"] == 6


def test_the_beat_folds_in_every_reader_who_reacted_lately_and_nobody_else(runtime, monkeypatch):
    """Clicks change a reader's vectors before the night: the beat's scan queues a fold-in for each reader who
    clicked or answered "more"/"less" lately; old reactions and scanners' clicks are left to the nightly training."""
    import datetime as dt

    import workers.tasks.train as tasks
    from service.models import utcnow
    from service.recommend.store import latest_model

    monkeypatch.setattr(tasks, "get_runtime", lambda: runtime)
    queued: list[int] = []
    real_delay = tasks.fold_in_clicks.delay
    monkeypatch.setattr(tasks.fold_in_clicks, "delay", lambda sid: queued.append(sid) or real_delay(sid))
    with runtime.db.session() as s:
        ids = add_papers(s, "graphs", 6) + add_papers(s, "speech", 6)
        fresh, old, scanned = (add_subscriber(s, f"{n}@example.org") for n in ("fresh", "old", "scanned"))
        add_events(s, old, ids[:2], "click", created_at=utcnow() - dt.timedelta(hours=3))
    assert tasks.train_model.apply().get()["status"] == "ready"
    with runtime.db.session() as s:
        add_events(s, fresh, ids[6:8], "click")
        add_events(s, scanned, ids[6:8], "click", suspected_scanner=True)

    assert tasks.fold_in_recent.apply().get() == {"queued": 1}
    assert queued == [fresh]
    with runtime.db.session() as s:
        stored = latest_model(s)
    assert fresh in stored.user_row  # a reader the night never saw now has vectors of their own
