"""What each reader was shown: read from the picks every sent digest stores (``deliveries.picks``), not from a row
per paper.

A digest's picks are written once, before it is rendered, and the email shows exactly them; so "already sent to
this reader", "shown and not clicked" (what training learns as a weak negative) and each paper's position in the
email all come from the delivery rows. A send used to append one ``sent`` interaction per paper as well: 13 rows a
digest, ~475M a year at 100k readers, a third of the database's work per digest, for facts the delivery already
held (migration 0006 moved that history into the deliveries).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from service.db import id_in
from service.models import Delivery, DeliveryStatus

# A paper is news for at most a week (the weekly window, ``digest.candidates``): whether a reader was already sent
# one of the day's candidates is answered by their digests of the last week alone.
LOOKBACK_DAYS = 7


def shown(
    session: Session, subscriber_ids: Iterable[int], since: dt.date, until: dt.date | None = None
) -> dict[int, set[int]]:
    """subscriber id → the papers their sent digests dated ``since`` ≤ date < ``until`` showed them.

    Read through the unique (subscriber_id, digest_date) index: a handful of rows per reader.
    """
    subs = list(dict.fromkeys(int(s) for s in subscriber_ids))
    out: dict[int, set[int]] = defaultdict(set)
    for start in range(0, len(subs), 1000):
        query = select(Delivery.subscriber_id, Delivery.picks).where(
            id_in(session, Delivery.subscriber_id, subs[start : start + 1000]),
            Delivery.digest_date >= since,
            Delivery.status == DeliveryStatus.SENT,
        )
        if until is not None:
            query = query.where(Delivery.digest_date < until)
        for subscriber_id, picks in session.execute(query):
            out[subscriber_id].update(int(p["paper_id"]) for p in picks or [] if isinstance(p, dict))
    return out


def newest_send(session: Session) -> dt.date | None:
    """The date of the newest sent digest: impressions are counted back from the history, not the clock."""
    return session.scalar(
        select(Delivery.digest_date)
        .where(Delivery.status == DeliveryStatus.SENT)
        .order_by(Delivery.digest_date.desc())
        .limit(1)
    )


def shown_events_sql(dialect: Dialect, since: dt.date | None, kind_code: int) -> str:
    """SQL of every (subscriber id, paper id, ``kind_code``) a sent digest dated ``since`` or later showed: the
    picks expanded by the database itself (``json_array_elements`` on PostgreSQL, ``json_each`` on SQLite), so
    training streams integers instead of decoding millions of JSON arrays. Holds only our own values (a date and
    an integer we computed), rendered in place."""
    where = f"d.status = '{DeliveryStatus.SENT}'"
    if since is not None:
        where += f" AND d.digest_date >= '{since.isoformat()}'"
    code = int(kind_code)
    if dialect.name == "postgresql":
        return (
            f"SELECT d.subscriber_id, CAST(e.value ->> 'paper_id' AS INTEGER), {code} "  # noqa: S608 - our own values
            f"FROM deliveries AS d CROSS JOIN LATERAL json_array_elements(d.picks) AS e WHERE {where}"
        )
    return (
        f"SELECT d.subscriber_id, CAST(json_extract(e.value, '$.paper_id') AS INTEGER), {code} "  # noqa: S608
        f"FROM deliveries AS d, json_each(d.picks) AS e WHERE {where}"
    )
