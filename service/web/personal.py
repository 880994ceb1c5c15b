"""What every page reached by a reader's own link shares: the way back to their preferences.

A reader who arrives from one of their links (an email's preferences, unsubscribe, feedback or web-view link) is
known for that page only. ``remember_reader`` points the header's "My preferences" at their own page instead of
the form that emails a link, and gives the page the same link for its own "back to your preferences".
"""

from __future__ import annotations

from flask import g

from service.models import Subscriber
from service.web.access import subscriber_link


def remember_reader(subscriber: Subscriber) -> str:
    """A fresh link to ``subscriber``'s preferences page, also used by the header of the page being rendered."""
    url = subscriber_link("manage.preferences", "preferences", subscriber)
    g.preferences_url = url
    return url
