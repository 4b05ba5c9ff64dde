"""The schemas work in an independent validator, offline, from a checkout: check-jsonschema
validates every example against its schema (their relative $refs resolve to the sibling
files, not to a URL), and rejects a broken file, so the check can fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from factory.load.layout import DEFAULTS_FILE, PLATFORM_FILE, Project

REPO = Path(__file__).resolve().parents[1]
CHECK = str(Path(sys.executable).parent / "check-jsonschema")


def _examples() -> dict[str, list[Path]]:
    specs = REPO / "specs"
    return {
        "spec": Project.at(REPO).spec_files(),
        "defaults": sorted(specs.rglob(DEFAULTS_FILE)),
        "platform": [specs / PLATFORM_FILE],
    }


def _check(kind: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    schema = REPO / "schemas" / f"{kind}.schema.json"
    return subprocess.run(
        [CHECK, "--no-cache", "--schemafile", str(schema), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("kind", ["spec", "defaults", "platform"])
def test_check_jsonschema_validates_every_example_offline(kind: str) -> None:
    files = _examples()[kind]
    assert files
    done = _check(kind, files)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


def test_check_jsonschema_rejects_a_broken_defaults_file_through_the_cross_file_ref(tmp_path: Path) -> None:
    broken = tmp_path / DEFAULTS_FILE
    broken.write_text("owner: ''\nretries: many\n")  # both defined in spec.schema.json's $defs
    done = _check("defaults", [broken])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "retries" in done.stdout and "Failed to" not in done.stdout + done.stderr
