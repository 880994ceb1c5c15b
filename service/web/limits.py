"""Rate limits on the forms that send email: per client IP and per address, one budget per address.

The address budget is keyed on the canonical address (``subscribers.addresses.normalise_email``: NFKC, lower case,
ASCII domain), so ``Reader@bücher.example``, ``ｒｅａｄｅｒ@xn--bcher-kva.example`` and a decomposed spelling share
one counter; and it is one budget across every form that mails an address (subscribe, "email me my preferences
link"), so switching forms does not buy more emails to someone's inbox. Flask-Limiter keeps the counters in
``RATELIMIT_STORAGE_URI`` (Redis when ``REDIS_URL`` is set, shared by every web process; else per process memory,
which ``create_app`` warns about under a multi-process server). Behind a proxy, ``TRUSTED_PROXIES`` makes the
client IP the one the proxy saw (``werkzeug.middleware.proxy_fix``), not the proxy's own.
Only these forms are limited: the click, unsubscribe and feedback links never touch the limiter's storage.
"""

from __future__ import annotations

import logging
import os
import sys

from flask import request

from service.config import Settings
from service.extensions import limiter
from service.mail.addresses import MAX_LENGTH, normalise_email

log = logging.getLogger(__name__)

PER_IP = "10 per minute;100 per day"
PER_ADDRESS = "3 per hour;10 per day"


def address_key() -> str:
    """The limiter key of the address a form posts: the same for every spelling of one address."""
    return "address:" + normalise_email(request.form.get("email", "")[: 4 * MAX_LENGTH])[:MAX_LENGTH]


# One shared limit object: every form decorated with it draws on the same per-address counter.
mail_to_address = limiter.shared_limit(PER_ADDRESS, scope="mail-address", key_func=address_key, methods=["POST"])


def per_ip(scope: str):  # noqa: ANN201 - a Flask-Limiter decorator
    return limiter.limit(PER_IP, methods=["POST"], scope=f"{scope}-ip")


def server_processes(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    """How many processes serve requests, as far as the command line tells (gunicorn ``-w``/``--workers``,
    ``WEB_CONCURRENCY``); 1 when it does not."""
    argv = sys.argv if argv is None else argv
    environ = dict(os.environ) if environ is None else environ
    workers = environ.get("WEB_CONCURRENCY", "")
    for i, arg in enumerate(argv):
        if arg in ("-w", "--workers") and i + 1 < len(argv):
            workers = argv[i + 1]
        elif arg.startswith("--workers="):
            workers = arg.split("=", 1)[1]
    return int(workers) if workers.isdigit() else 1


def warn_if_unshared(settings: Settings, processes: int | None = None) -> bool:
    """Log an error when several processes keep rate limits in their own memory: each would allow the full budget,
    so the limits would not hold. Returns whether it warned."""
    processes = server_processes() if processes is None else processes
    if processes > 1 and settings.RATELIMIT_STORAGE_URI.startswith("memory://"):
        log.error(
            "rate limits are kept in each process's memory but %d processes serve requests: every process allows "
            "the whole budget. Set REDIS_URL (or RATELIMIT_STORAGE_URI) so they share one store.",
            processes,
        )
        return True
    return False
