"""Celery tasks, one module per queue; each is a thin call into ``service/``."""
