"""Checks of a spec's timezone and end_date that the schema cannot express."""

from __future__ import annotations

import difflib
import functools
import zoneinfo
from datetime import date
from typing import Any

from factory.diagnostics import Diagnostic
from factory.load.yaml import Document


@functools.cache
def known_zones() -> frozenset[str]:
    """The IANA names this machine's time zone database holds (the tzdata package)."""
    return frozenset(zoneinfo.available_timezones())


def check(merged: dict[str, Any], origin: dict[str, Document]) -> list[Diagnostic]:
    problems = []
    zone = merged.get("timezone")
    if isinstance(zone, str) and zone not in known_zones():
        close = difflib.get_close_matches(zone, sorted(known_zones()), n=1, cutoff=0.6)
        problems.append(
            origin["timezone"].error(
                ("timezone",),
                f"unknown time zone '{zone}'",
                rule="timezone",
                hint=f"did you mean '{close[0]}'?"
                if close
                else "an IANA name such as Europe/Paris or America/New_York",
            )
        )
    end, start = _day(merged.get("end_date")), _day(merged.get("start_date"))
    if isinstance(merged.get("end_date"), str) and end is None:
        problems.append(
            origin["end_date"].error(("end_date",), f"'{merged['end_date']}' is not a real date", rule="date")
        )
    elif end is not None and start is not None and end < start:
        problems.append(
            origin["end_date"].error(
                ("end_date",), f"end_date {end} is before start_date {start}: the pipeline would never run", rule="date"
            )
        )
    return problems


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None
