"""The spec's units: human durations and binary memory sizes."""

from __future__ import annotations

import functools
import re
from datetime import timedelta

_DURATION = re.compile(r"^(?=[0-9])(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")
_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(MiB|GiB)$")


# The longest a spec's timeout or retry delay may be. Far beyond any real job, and far
# below what Python's dates hold: Airflow adds these to a run's dates.
MAX_DURATION = timedelta(days=365)
MAX_DURATION_TEXT = "365d"


def duration_seconds(text: str) -> int:
    """'1h30m' -> 5400, for any size (no timedelta, so no overflow). The schema has checked the shape."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


@functools.lru_cache(maxsize=1024)  # specs repeat a handful of values; parsed per spec per parse
def parse_duration(text: str) -> timedelta:
    """'1h30m' -> timedelta(hours=1, minutes=30); ValueError beyond MAX_DURATION (lint says so first)."""
    seconds = duration_seconds(text)
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"longer than {MAX_DURATION_TEXT}: {text!r}")
    return timedelta(seconds=seconds)


@functools.lru_cache(maxsize=1024)
def parse_memory_mib(text: str) -> int:
    """'1.5GiB' -> 1536. Rounded up to whole MiB: a limit should never shrink."""
    match = _MEMORY.match(text)
    if not match:
        raise ValueError(f"not a memory size: {text!r}")
    number, unit = float(match.group(1)), match.group(2)
    mib = number * 1024 if unit == "GiB" else number
    return max(1, int(-(-mib // 1)))


def format_memory(mib: int) -> str:
    """512 -> '512 MiB', 2048 -> '2 GiB': as a person writes it."""
    return f"{mib / 1024:g} GiB" if mib % 1024 == 0 else f"{mib} MiB"


def format_duration(value: timedelta) -> str:
    """A duration as specs spell it: 2h, 1h30m, 90s -> 1m30s."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
