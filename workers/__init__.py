"""Celery workers: ``celery -A workers worker`` and ``celery -A workers beat`` (exactly one beat).

Tasks are thin: they take ids, build the process's ``Runtime`` once, and call ``service/``.
"""

from workers.app import celery_app, get_runtime

app = celery_app

__all__ = ["app", "celery_app", "get_runtime"]
