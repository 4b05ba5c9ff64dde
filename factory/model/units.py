"""The spec's units: human durations and binary memory sizes."""

from __future__ import annotations

import functools
import re
from datetime import timedelta

_DURATION = re.compile(r"^(?=[0-9])(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")
_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(MiB|GiB)$")


@functools.lru_cache(maxsize=1024)  # specs repeat a handful of values; parsed per spec per parse
def parse_duration(text: str) -> timedelta:
    """'1h30m' -> timedelta(hours=1, minutes=30). The schema has checked the shape."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


@functools.lru_cache(maxsize=1024)
def parse_memory_mib(text: str) -> int:
    """'1.5GiB' -> 1536. Rounded up to whole MiB: a limit should never shrink."""
    match = _MEMORY.match(text)
    if not match:
        raise ValueError(f"not a memory size: {text!r}")
    number, unit = float(match.group(1)), match.group(2)
    mib = number * 1024 if unit == "GiB" else number
    return max(1, int(-(-mib // 1)))
