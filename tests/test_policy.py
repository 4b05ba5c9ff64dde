"""The platform's policy on what a spec may ask for (factory/validate/policy.py): the
on-prem network mode. Lint and the loader share the check, so both refuse the same spec,
and a change of policy in the platform file is seen at once, cache or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from factory.check import SpecChecker
from factory.diagnostics import SpecError
from factory.load.layout import Project
from factory.read import Reader

SPEC = """\
description: scrapes the intranet
owner: web
start_date: 2024-01-01
tasks:
  scrape:
    image: "busybox:1"
    onprem:
      network_mode: {mode}
"""


def _project(tmp_path: Path, mode: str, platform: str | None) -> tuple[Project, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "schemas").symlink_to(Path(__file__).resolve().parents[1] / "schemas")
    specs = tmp_path / "specs"
    specs.mkdir()
    if platform is not None:
        (specs / "_platform.yaml").write_text(platform)
    spec = specs / "scrape.yaml"
    spec.write_text(SPEC.format(mode=mode))
    return Project.at(tmp_path), spec


def _problems(project: Project, spec: Path) -> list[str]:
    try:
        SpecChecker.for_runtime(Reader(project), "onprem").check(spec)
    except SpecError as exc:
        return [f"{d.line}:{d.column} {d.message}" for d in exc.diagnostics]
    return []


@pytest.mark.parametrize("mode", ["bridge", "none", "analytics-net"])
def test_by_default_a_spec_may_choose_an_isolated_network(tmp_path: Path, mode: str) -> None:
    assert _problems(*_project(tmp_path, mode, None)) == []


@pytest.mark.parametrize(
    ("mode", "why"),
    [("host", "the worker's own network"), ('"container:proxy"', "the network of another container")],
)
def test_by_default_host_and_container_modes_are_refused_at_their_line(tmp_path: Path, mode: str, why: str) -> None:
    (problem,) = _problems(*_project(tmp_path, mode, None))
    assert problem.startswith("8:21 network mode ") and why in problem


def test_the_platform_file_lists_exactly_the_modes_specs_may_choose(tmp_path: Path) -> None:
    platform = "onprem:\n  allowed_network_modes: [host, bridge]\n"
    assert _problems(*_project(tmp_path / "a", "host", platform)) == []
    (problem,) = _problems(*_project(tmp_path / "b", "analytics-net", platform))
    assert problem == (
        "8:21 network mode 'analytics-net' is not one the platform allows specs to choose (allowed: 'host', 'bridge')"
    )


def test_a_policy_change_is_seen_by_a_cached_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The loader's cache keys each spec by the platform file too: a spec cached as fine
    # under a permissive policy is refused once the policy no longer allows it.
    monkeypatch.setenv("FACTORY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FACTORY_RUNTIME", "onprem")
    project, spec = _project(tmp_path, "host", "onprem:\n  allowed_network_modes: [host]\n")

    def parse() -> list[str]:
        checker = SpecChecker.open(Project.at(tmp_path), "dags/factory_dags.py", cache=True)
        try:
            checker.check(spec)
            return []
        except SpecError as exc:
            return [d.message for d in exc.diagnostics]
        finally:
            checker.save_cache()

    assert parse() == [] and parse() == []  # the second one from the cache
    (project.specs_dir / "_platform.yaml").write_text("onprem:\n  network_mode: bridge\n")
    assert parse() == ["network mode 'host' is not allowed in a spec: it gives the container the worker's own network"]
