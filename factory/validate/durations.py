"""The checks every duration of a spec shares: longer than zero, at most MAX_DURATION."""

from __future__ import annotations

from typing import Any

from factory.model.units import MAX_DURATION, MAX_DURATION_TEXT, duration_seconds


def seconds_of(value: Any) -> int | None:
    """A duration's seconds; None for what is not one (the schema reports the shape)."""
    if not isinstance(value, str):
        return None
    try:
        return duration_seconds(value)
    except ValueError:
        return None


def duration_problem(key: str, value: Any, what: str = "a task may wait or run") -> str | None:
    seconds = seconds_of(value)
    if seconds is None:
        return None
    if seconds == 0:
        return f"{key} must be longer than zero"
    if seconds > MAX_DURATION.total_seconds():
        return f"{key} '{value}' is longer than the {MAX_DURATION_TEXT} {what}"
    return None
