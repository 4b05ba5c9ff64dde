"""What the tests that use real services need, said the same way everywhere: a missing
service skips loudly on a developer's machine and fails under CI, where it must be there."""

from __future__ import annotations

import os

import pytest

EXAMPLE_IMAGE = "factory-examples/busybox:1.35"  # made by scripts/services example-image


def need(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} -- CI is set, so this must run, not skip")
    pytest.skip(f"NOT RUN: {reason}")
