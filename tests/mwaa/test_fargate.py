"""Fargate sizes: the spec's vCPUs and memory rounded up to a size Fargate offers."""

from __future__ import annotations

import pytest

from factory.compile.fargate import FargateSizeError, describe_sizes, fargate_size, on_fargate, rounding_note


@pytest.mark.parametrize(
    ("cpu", "memory_mib", "size"),
    [
        (0.25, 512, (256, 512)),  # already a Fargate size
        (0.5, 1024, (512, 1024)),
        (0.1, 100, (256, 512)),  # both rounded up to the smallest size
        (0.3, 512, (512, 1024)),  # more than 0.25 vCPU: 0.5 vCPU, whose smallest memory is 1 GiB
        (0.25, 3000, (512, 3072)),  # 0.25 vCPU tops out at 2 GiB: more memory needs more vCPU
        (1, 2500, (1024, 3072)),  # memory in 1 GiB steps
        (8, 17000, (8192, 20480)),  # 8 vCPU: 4 GiB steps
        (16, 8192, (16384, 32768)),  # 16 vCPU: at least 32 GiB
        (16, 122880, (16384, 122880)),  # the largest size
    ],
)
def test_rounds_up_to_smallest_fargate_size(cpu: float, memory_mib: int, size: tuple[int, int]) -> None:
    assert fargate_size(cpu, memory_mib) == size


def test_float_vcpus_do_not_round_up_a_step_by_accident() -> None:
    # 0.1 * 3 * 1024 is 307.20000000000005: still 0.5 vCPU, not more.
    assert fargate_size(0.1 * 3, 1024) == (512, 1024)
    assert fargate_size(2.0, 4096) == (2048, 4096)


def test_too_big_names_the_valid_sizes() -> None:
    with pytest.raises(FargateSizeError) as error:
        fargate_size(16, 130 * 1024)
    message = str(error.value)
    assert "no Fargate size has 16 vCPU and 130 GiB" in message
    assert "0.25 vCPU: 512 MiB, 1 GiB or 2 GiB" in message
    assert "8 vCPU: 16 GiB to 60 GiB in 4 GiB steps" in message
    assert "16 vCPU: 32 GiB to 120 GiB in 8 GiB steps" in message
    assert describe_sizes() in message


def test_rounding_note_says_what_changed() -> None:
    assert rounding_note(0.5, 1024) is None
    assert rounding_note(0.3, 100) == (
        "0.3 vCPU and 100 MiB run as 0.5 vCPU and 1 GiB, the smallest Fargate size with at least as much of both"
    )


@pytest.mark.parametrize(
    ("launch_type", "strategy", "expected"),
    [
        ("FARGATE", (), True),
        ("EC2", (), False),
        ("EXTERNAL", (), False),
        ("EC2", ((("capacity_provider", "FARGATE_SPOT"), ("weight", 1)),), True),
        (
            "FARGATE",
            ((("capacity_provider", "FARGATE"),), (("capacity_provider", "my-asg-provider"),)),
            False,
        ),
    ],
)
def test_on_fargate(launch_type: str, strategy: tuple, expected: bool) -> None:
    assert on_fargate(launch_type, strategy) is expected
