"""Fargate task sizes: the spec's vCPUs and MiB, rounded up to a size Fargate offers."""

from __future__ import annotations

import math
from typing import Any

# cpu units -> the memory sizes (MiB) Fargate accepts with it, smallest first.
_SIZES: dict[int, list[int]] = {
    256: [512, 1024, 2048],
    512: list(range(1024, 4096 + 1, 1024)),
    1024: list(range(2048, 8192 + 1, 1024)),
    2048: list(range(4096, 16384 + 1, 1024)),
    4096: list(range(8192, 30720 + 1, 1024)),
    8192: list(range(16384, 61440 + 1, 4096)),
    16384: list(range(32768, 122880 + 1, 8192)),
}


def on_fargate(launch_type: str, strategy: tuple[Any, ...]) -> bool:
    """Whether tasks land on Fargate (and so must use its sizes)."""
    if strategy:
        return all(str(dict(item)["capacity_provider"]).startswith("FARGATE") for item in strategy)
    return launch_type == "FARGATE"


class FargateSizeError(ValueError):
    pass


def fargate_size(cpu: float, memory_mib: int) -> tuple[int, int]:
    """The smallest (cpu units, memory MiB) Fargate offers with at least what was asked."""
    wanted_units = math.ceil(cpu * 1024 - 1e-9)
    for units, memories in _SIZES.items():
        if units < wanted_units:
            continue
        for memory in memories:
            if memory >= memory_mib:
                return units, memory
    raise FargateSizeError(
        f"no Fargate size has {cpu:g} vCPU and {memory_mib} MiB; the largest is 16 vCPU with 120 GiB. "
        f"Valid sizes: {describe_sizes()}"
    )


def describe_sizes() -> str:
    return "; ".join(
        f"{units / 1024:g} vCPU with {memories[0] // 1024 if memories[0] >= 1024 else memories[0]}"
        f"{'GiB' if memories[0] >= 1024 else 'MiB'}-{memories[-1] // 1024}GiB"
        for units, memories in _SIZES.items()
    )
