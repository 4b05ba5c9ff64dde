"""`factory lint FILE...` as pre-commit calls it: a changed _defaults.yaml checks itself
and every spec it applies to, a changed _platform.yaml every spec, and a file that is not
a spec (an `_`-file, a README) checks nothing; a broken defaults file is told once."""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_projects import spec_project

from factory.lint import lint_paths

SPEC = "description: d\ntasks:\n  a:\n    image: i:1\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    spec_project(
        tmp_path,
        {
            "sales/_defaults.yaml": "owner: sales\nstart_date: 2024-01-01\n",
            "sales/a.yaml": SPEC,
            "sales/eu/b.yaml": SPEC,
            "finance/c.yaml": SPEC + "owner: f\nstart_date: 2024-01-01\n",
            "sales/_notes.yaml": "anything: [\n",
        },
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_defaults_file_checks_the_specs_under_it(project: Path) -> None:
    result = lint_paths([Path("specs/sales/_defaults.yaml")])
    assert result.spec_count == 2 and result.errors == []


def test_a_broken_defaults_file_is_told_once(project: Path) -> None:
    Path("specs/sales/_defaults.yaml").write_text("owner: sales\nstart_date: 2024-01-01\nretries: lots\n")
    result = lint_paths([Path("specs/sales/_defaults.yaml"), Path("specs/sales/a.yaml")])
    own = [d for d in result.errors if d.path == "specs/sales/_defaults.yaml"]
    assert len(own) == 1 and own[0].line == 3
    paths = {d.path for d in result.errors}
    assert paths == {"specs/sales/_defaults.yaml", "specs/sales/a.yaml", "specs/sales/eu/b.yaml"}


def test_a_defaults_file_no_spec_uses_yet_is_still_checked(project: Path) -> None:
    Path("specs/ops").mkdir()
    Path("specs/ops/_defaults.yaml").write_text("owner: [ops]\n")
    result = lint_paths([Path("specs/ops/_defaults.yaml")])
    assert result.spec_count == 0
    assert [(d.path, d.line) for d in result.errors] == [("specs/ops/_defaults.yaml", 1)]


def test_the_platform_file_checks_every_spec(project: Path) -> None:
    assert lint_paths([Path("specs/_platform.yaml")]).spec_count == 3


def test_files_that_are_not_specs_check_nothing(project: Path) -> None:
    result = lint_paths([Path("specs/sales/_notes.yaml")])
    assert result.spec_count == 0 and result.diagnostics == []
