"""Fargate task sizes: the spec's vCPUs and MiB, rounded up to a size Fargate offers."""

from __future__ import annotations

import math
from typing import Any

from factory.model.units import format_memory

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
        f"no Fargate size has {cpu:g} vCPU and {format_memory(memory_mib)}; the largest is 16 vCPU with 120 GiB. "
        f"Valid sizes: {describe_sizes()}"
    )


def describe_sizes() -> str:
    """The valid sizes in words, for error messages."""
    return "; ".join(f"{_vcpus(units)} vCPU: {_memories(memories)}" for units, memories in _SIZES.items())


def rounding_note(cpu: float, memory_mib: int) -> str | None:
    """How a task's size changes on Fargate, or None when it is a Fargate size already."""
    units, memory = fargate_size(cpu, memory_mib)
    if units == round(cpu * 1024) and memory == memory_mib:
        return None
    return (
        f"{cpu:g} vCPU and {format_memory(memory_mib)} run as {_vcpus(units)} vCPU and {format_memory(memory)}, "
        "the smallest Fargate size with at least as much of both"
    )


def _vcpus(units: int) -> str:
    return f"{units / 1024:g}"


def _memories(memories: list[int]) -> str:
    if len(memories) <= 3:
        return ", ".join(format_memory(m) for m in memories[:-1]) + f" or {format_memory(memories[-1])}"
    step = memories[1] - memories[0]
    return f"{format_memory(memories[0])} to {format_memory(memories[-1])} in {format_memory(step)} steps"
