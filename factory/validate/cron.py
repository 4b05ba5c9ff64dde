"""Cron expressions checked without importing Airflow (lint must stay light)."""

from __future__ import annotations

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {d: i for i, d in enumerate(_DAYS)}),
)


def cron_problem(expression: str) -> str | None:
    """Why a five-field cron expression is invalid, or None when it is fine."""
    fields = expression.split()
    if len(fields) != 5:
        return (
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), this one has {len(fields)}"
        )
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=False):
        for item in text.split(","):
            problem = _item_problem(item, low, high, names)
            if problem:
                return f"{name} field '{text}': {problem}"
    return None


def _value(text: str, low: int, high: int, names: dict[str, int]) -> int:
    number = names.get(text.upper())
    if number is None:
        if not text.isdigit():
            raise ValueError(f"'{text}' is not a number")
        number = int(text)
    if not low <= number <= high:
        raise ValueError(f"{number} is outside {low}-{high}")
    return number


def _item_problem(item: str, low: int, high: int, names: dict[str, int]) -> str | None:
    base, _, step = item.partition("/")
    try:
        if step and (not step.isdigit() or int(step) == 0):
            return f"step '{step}' must be a positive number"
        if base == "*":
            return None
        start, dash, end = base.partition("-")
        first = _value(start, low, high, names)
        if dash and _value(end, low, high, names) < first:
            return f"range '{base}' runs backwards"
    except ValueError as exc:
        return str(exc)
    return None
