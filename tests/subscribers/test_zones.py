"""The time-zone menu: IANA's canonical zones with their offsets, old names mapped to the zone they link to."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from service.subscribers.zones import canonical_zone, canonical_zones, zone_links, zone_menu


def test_the_menu_holds_canonical_zones_and_every_one_is_loadable():
    zones = canonical_zones()
    assert "UTC" in zones and "Europe/Berlin" in zones and "Pacific/Auckland" in zones
    assert not {"US/Pacific", "Asia/Calcutta", "Europe/Kiev", "GMT", "Etc/GMT+5", "Japan"} & set(zones)
    assert 350 < len(zones) < len(zoneinfo.available_timezones())
    for name in zones:
        zoneinfo.ZoneInfo(name)


def test_old_names_map_to_the_zone_they_link_to():
    assert canonical_zone("US/Pacific") == "America/Los_Angeles"
    assert canonical_zone("Asia/Calcutta") == "Asia/Kolkata"
    assert canonical_zone("Etc/UTC") == canonical_zone("GMT") == "UTC"
    assert canonical_zone("Europe/Oslo") == "Europe/Oslo"  # listed itself, though tzdata links it to Berlin
    assert canonical_zone("Mars/Olympus_Mons") == "Mars/Olympus_Mons"  # unknown: left for validation to refuse
    assert all(target != alias for alias, target in zone_links().items())


def test_labels_carry_the_offset_of_the_moment():
    winter = {z.name: z for _, zones in zone_menu(dt.datetime(2026, 1, 15, tzinfo=dt.UTC)) for z in zones}
    summer = {z.name: z for _, zones in zone_menu(dt.datetime(2026, 7, 15, tzinfo=dt.UTC)) for z in zones}
    assert (
        winter["Europe/Berlin"].label == "Berlin (UTC+01:00)" and summer["Europe/Berlin"].label == "Berlin (UTC+02:00)"
    )
    assert winter["America/St_Johns"].label == "St Johns (UTC−03:30)"
    assert winter["America/Argentina/Buenos_Aires"].label.startswith("Argentina / Buenos Aires")
    assert winter["UTC"].label == "UTC" and "Asia/Calcutta" in winter["Asia/Kolkata"].aliases
    regions = [region for region, _ in zone_menu()]
    assert regions[0] == "" and regions == sorted(regions)
