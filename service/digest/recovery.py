"""Recovery without an operator: leases kept alive while a batch runs, and a reaper for what a dead sender left.

A send batch's claims are leases of ``DIGEST_CLAIM_LEASE_S`` (60 s) that its ``LeaseKeeper`` renews every third of
that while the batch runs, so a live batch, however slow, is never taken over, and a dead one (``kill -9``, a lost
machine) is noticed within a lease. ``reap`` then, every ``REAP_EVERY_S`` (the beat's ``reap-deliveries``, and
``paperboy send`` while it waits):

* settles ``submitting`` rows whose lease lapsed: the provider may have them, so they are never sent again
  blindly (``states.resolve_stale``: sent, planned again, or failed with "outcome unknown");
* takes back ``sending`` rows whose lease lapsed (nothing left the building for them) to ``planned`` and sends
  them to the workers again as new batches.

So after a worker is killed mid-send and a worker runs again, every due digest goes out once within about a lease
and a reaper interval (~90 s), with no second ``paperboy send``; the dead worker's own task, redelivered by Redis
after the visibility timeout, finds its deliveries done and does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import select, update

from service.db import TRANSIENT_DB_ERRORS
from service.digest import states
from service.mail.backends import get_backend
from service.models import Delivery
from service.queue import SEND_BATCH, PublishFailed
from service.runtime import Runtime

log = logging.getLogger(__name__)

REAP_EVERY_S = 30
TAKEN_BACK = "taken back from a sender that stopped before sending it"


def lease_of(rt: Runtime) -> dt.timedelta:
    return dt.timedelta(seconds=rt.settings.DIGEST_CLAIM_LEASE_S)


def batches(ids: Sequence[int], size: int) -> list[list[int]]:
    size = max(1, int(size))
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


class LeaseKeeper:
    """Renews the leases of a batch's claims every third of a lease, in a thread of its own, until stopped.

    ``owned`` returns the claims still held (delivery id → attempt) at that moment; a claim taken over meanwhile
    is simply not renewed (the fencing token no longer matches).
    """

    def __init__(self, rt: Runtime, owned: Callable[[], Mapping[int, int]]) -> None:
        self.rt = rt
        self.owned = owned
        self.every_s = max(0.5, rt.settings.DIGEST_CLAIM_LEASE_S / 3)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.renewals = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            claims = [states.Claim(i, a) for i, a in self.owned().items()]
            if not claims:
                continue
            try:
                with self.rt.db.session() as session:
                    states.renew(session, claims)
                self.renewals += 1
            except TRANSIENT_DB_ERRORS as exc:  # the batch itself will meet the same error and stop
                log.warning("could not renew %d claims: %s", len(claims), exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def reap(rt: Runtime, *, digest_date: dt.date | None = None, now: dt.datetime | None = None) -> dict[str, object]:
    """Settle and take back what dead senders left (of ``digest_date``, or of any date), and send the taken-back
    deliveries to the workers again: ``{resolved: {...}, taken_back, dispatched: [task results]}``.

    Without a broker the taken-back deliveries stay ``planned`` for the next ``paperboy send``, which sends them.
    """
    now = states.naive(now)
    lease = lease_of(rt)
    backend = get_backend(rt.settings)
    try:
        with rt.db.session() as session:
            resolved = states.resolve_stale(
                session, backend.was_accepted, digest_date=digest_date, now=now, lease=lease
            )
    finally:
        backend.close()
    with rt.db.session() as session:
        lapsed = update(Delivery).where(Delivery.status == states.SENDING, Delivery.claimed_at < now - lease)
        if digest_date is not None:
            lapsed = lapsed.where(Delivery.digest_date == digest_date)
        taken_back = sorted(
            session.scalars(
                lapsed.values(status=states.PLANNED, claimed_at=None, error=TAKEN_BACK)
                .returning(Delivery.id)
                .execution_options(synchronize_session=False)
            )
        )
    dispatched = []
    if taken_back and rt.dispatcher.enabled:
        try:
            for chunk in batches(taken_back, rt.settings.DIGEST_BATCH_SIZE):
                dispatched.append((chunk, rt.dispatcher.send(SEND_BATCH, chunk)))
        except PublishFailed as exc:  # they stay planned: the next plan or send run picks them up
            log.error("taken-back deliveries could not be queued again: %s", exc)
    if taken_back or any(resolved.values()):
        log.warning(
            "reaped deliveries a stopped sender left",
            extra={
                "pb_event": "reaped",
                "pb_taken_back": len(taken_back),
                **{f"pb_{k}": v for k, v in resolved.items()},
            },
        )
    return {"resolved": resolved, "taken_back": taken_back, "dispatched": dispatched}


def waiting_ids(rt: Runtime, ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    """Of ``ids``, those not final yet (planned or in flight): id → (status, error)."""
    out: dict[int, tuple[str, str | None]] = {}
    with rt.db.session() as session:
        for start in range(0, len(ids), 5000):
            part = list(ids[start : start + 5000])
            out.update(
                (i, (status, error))
                for i, status, error in session.execute(
                    select(Delivery.id, Delivery.status, Delivery.error).where(
                        Delivery.id.in_(part), Delivery.status.in_((states.PLANNED, *states.IN_FLIGHT))
                    )
                )
            )
    return out
