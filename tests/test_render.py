"""`factory render` on specs that once crashed it: a one-line error or the DAG, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FACTORY = str(Path(sys.executable).parent / "factory")
SPEC = (
    "owner: a\ndescription: d\nstart_date: 2024-01-01\n{schedule}tasks:\n  {task}:\n    image: i:1\n    command: [x]\n"
)


def _render(tmp_path: Path, body: str, *args: str, platform: str | None = None) -> subprocess.CompletedProcess[str]:
    shutil.copytree(REPO / "schemas", tmp_path / "schemas", dirs_exist_ok=True)
    (tmp_path / "specs" / "t").mkdir(parents=True, exist_ok=True)
    if platform is not None:
        (tmp_path / "specs" / "_platform.yaml").write_text(platform)
    spec = tmp_path / "specs" / "t" / "s.yaml"
    spec.write_text(body)
    return subprocess.run([FACTORY, "render", str(spec), *args], capture_output=True, text=True, cwd=tmp_path)


@pytest.mark.parametrize("schedule", ["schedule: null\n", ""], ids=["schedule-null", "no-schedule"])
def test_a_manual_spec_renders_with_a_null_schedule(tmp_path: Path, schedule: str) -> None:
    done = _render(tmp_path, SPEC.format(schedule=schedule, task="a"))
    assert done.returncode == 0, done.stderr
    assert "schedule: null\n" in done.stdout
    assert "Traceback" not in done.stderr


def test_a_task_named_like_the_cleanup_is_a_located_error(tmp_path: Path) -> None:
    done = _render(tmp_path, SPEC.format(schedule="", task="cleanup"))
    assert done.returncode == 1
    assert "specs/t/s.yaml:5:3: error: task name 'cleanup' is taken" in done.stderr
    assert "Traceback" not in done.stderr


def test_mwaa_without_an_mwaa_block_in_the_platform_file_is_one_clear_error(tmp_path: Path) -> None:
    done = _render(tmp_path, SPEC.format(schedule="", task="a"), "--runtime", "mwaa", platform="onprem: {}\n")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[0] == (
        "specs/_platform.yaml: error: the platform file has no 'mwaa:' block, which the MWAA runtime needs [mwaa]"
    )
    assert "Traceback" not in done.stderr
