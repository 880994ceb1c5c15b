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
