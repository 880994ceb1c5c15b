"""The time zones a reader picks from: IANA's canonical zones (``zone.tab``), grouped by region, with their offset.

``zoneinfo.available_timezones()`` also lists some 250 old aliases (``US/Pacific``, ``Asia/Calcutta``, ``GMT+0``), so
the menu reads IANA's own list of canonical zones instead, from the ``tzdata`` package: one or more zones per
country, plus UTC. An alias is still a valid choice (older rows hold some); it is shown as the zone it links to, and
each menu entry carries its aliases so a browser reporting an old name still finds its zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

UTC_NAME = "UTC"


@dataclass(frozen=True)
class Zone:
    name: str  # canonical IANA name, e.g. "America/Argentina/Buenos_Aires"
    label: str  # "Argentina / Buenos Aires (UTC−03:00)"
    aliases: tuple[str, ...]  # old names linking to it, e.g. ("America/Buenos_Aires",)


def _tzdata_text(name: str) -> str:
    return resources.files("tzdata.zoneinfo").joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def canonical_zones() -> tuple[str, ...]:
    """Every canonical zone of ``zone.tab``, and UTC, sorted."""
    names = {UTC_NAME}
    for line in _tzdata_text("zone.tab").splitlines():
        if line and not line.startswith("#"):
            names.add(line.split("\t")[2])
    return tuple(sorted(names))


@lru_cache(maxsize=1)
def zone_links() -> dict[str, str]:
    """Old name → the canonical zone it links to (``L`` lines of ``tzdata.zi``, chains followed)."""
    links: dict[str, str] = {}
    for line in _tzdata_text("tzdata.zi").splitlines():
        if line.startswith("L "):
            _, target, alias = line.split()
            links[alias] = target
    for alias, target in list(links.items()):
        seen = {alias}
        while target in links and target not in seen:
            seen.add(target)
            target = links[target]
        links[alias] = target
    for name in ("Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu", "Etc/GMT", "GMT"):
        links[name] = UTC_NAME
    return links


def canonical_zone(name: str) -> str:
    """``name`` as the menu names it: itself when canonical, the zone it links to when an alias of a listed zone."""
    if name in canonical_zones():
        return name
    target = zone_links().get(name)
    return target if target in canonical_zones() else name


def _offset(zone: str, now: dt.datetime) -> str:
    offset = now.astimezone(ZoneInfo(zone)).utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@lru_cache(maxsize=4)
def _menu(hour: dt.datetime) -> tuple[tuple[str, tuple[Zone, ...]], ...]:
    aliases: dict[str, list[str]] = {}
    listed = set(canonical_zones())
    for alias, target in zone_links().items():
        if alias not in listed:  # e.g. Europe/Oslo links to Europe/Berlin, yet has an entry of its own
            aliases.setdefault(target, []).append(alias)
    groups: dict[str, list[Zone]] = {}
    for name in canonical_zones():
        region, _, place = name.partition("/")
        label = f"{place.replace('_', ' ').replace('/', ' / ')} ({_offset(name, hour)})" if place else name
        zone = Zone(name, label, tuple(sorted(aliases.get(name, ()))))
        groups.setdefault(region if place else "", []).append(zone)
    return tuple((region, tuple(zones)) for region, zones in sorted(groups.items()))


def zone_menu(now: dt.datetime | None = None) -> tuple[tuple[str, tuple[Zone, ...]], ...]:
    """(region, zones) pairs for the form's ``<optgroup>``s; UTC first under the region "". Offsets as of ``now``
    (daylight saving moves them), recomputed at most once an hour."""
    now = now or dt.datetime.now(dt.UTC)
    return _menu(now.replace(minute=0, second=0, microsecond=0))
