"""Rate limits on the forms that send email: per client IP and per typed address.

Flask-Limiter keeps the counters in ``RATELIMIT_STORAGE_URI`` (Redis when ``REDIS_URL`` is set, else memory).
Only these forms are limited: the click, unsubscribe and feedback links never touch the limiter's storage.
"""

from __future__ import annotations

from flask import request

from service.extensions import limiter
from service.subscribers.addresses import normalise_email

PER_IP = "10 per minute;100 per day"
PER_ADDRESS = "3 per hour;10 per day"


def _address_key() -> str:
    return "address:" + normalise_email(request.form.get("email", ""))[:320]


def per_ip(scope: str):
    return limiter.limit(PER_IP, methods=["POST"], scope=f"{scope}-ip")


def per_address(scope: str):
    return limiter.limit(PER_ADDRESS, key_func=_address_key, methods=["POST"], scope=f"{scope}-address")
