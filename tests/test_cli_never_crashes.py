"""No `factory` command crashes on any input: every file in tests/bad_specs and in the
lint-contract corpus (tests/contract/corpus) through `factory lint`, `factory render`
on both runtimes and `factory explain`. Each ends with a documented exit status (0 or 1), never a traceback
or an internal error, and every error it prints names the file, with line and column
where the file has them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from factory.cli import main

REPO = Path(__file__).resolve().parents[1]
BAD = sorted(p for p in (REPO / "tests" / "bad_specs" / "specs").iterdir() if not p.name.startswith("_"))
CORPUS = sorted((REPO / "tests" / "contract" / "corpus").glob("*.yaml"))
ERROR_LINE = re.compile(r"^(?P<path>[^\s:]+\.ya?ml)(:(?P<line>\d+):(?P<col>\d+))?: error: ")


@pytest.fixture(scope="module")
def corpus_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus's cases sit in a project as the contract test puts them."""
    root = tmp_path_factory.mktemp("corpus-project")
    shutil.copytree(REPO / "schemas", root / "schemas")
    (root / "specs" / "team").mkdir(parents=True)
    shutil.copy2(REPO / "specs" / "_platform.yaml", root / "specs")
    (root / "specs" / "_defaults.yaml").write_text("owner: analytics\nstart_date: 2024-01-01\n")
    for case in CORPUS:
        shutil.copy2(case, root / "specs" / "team" / case.name)
    return root


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(argv)
    out = capsys.readouterr()
    return status, out.out + out.err


def _check(path: Path, cwd: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(cwd)
    rel = str(path.relative_to(cwd))
    commands = (
        ["lint", rel],
        ["render", rel, "--runtime", "onprem"],
        ["render", rel, "--runtime", "mwaa"],
        ["explain", rel],
        ["explain", rel, "--format", "json"],
    )
    for argv in commands:
        status, output = _run(argv, capsys)
        command = "factory " + " ".join(argv)
        assert status in (0, 1), f"{command} exited {status}:\n{output}"
        assert "Traceback" not in output and "internal error" not in output, f"{command}:\n{output}"
        errors = [line for line in output.splitlines() if " error: " in line]
        if argv[0] in ("lint", "explain"):
            assert (status == 1) == bool(errors), f"{command}: exit {status} but errors {errors}"
        for line in errors:
            assert ERROR_LINE.match(line), f"{command}: an error without its file: {line!r}"


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_spec_gives_a_clean_verdict(path: Path, capsys, monkeypatch) -> None:
    _check(path, REPO, capsys, monkeypatch)


@pytest.mark.parametrize("case", CORPUS, ids=lambda p: p.name)
def test_corpus_case_gives_a_clean_verdict(case: Path, corpus_project: Path, capsys, monkeypatch) -> None:
    _check(corpus_project / "specs" / "team" / case.name, corpus_project, capsys, monkeypatch)


def test_an_internal_error_is_one_line_with_the_documented_status(capsys, monkeypatch) -> None:
    import factory.cli.lint

    def broken(paths):
        raise KeyError("boom")

    monkeypatch.setattr(factory.cli.lint, "lint_paths", broken)
    monkeypatch.delenv("FACTORY_DEBUG", raising=False)
    monkeypatch.chdir(REPO)
    status, output = _run(["lint", "specs"], capsys)
    assert status == 3
    assert "Traceback" not in output
    assert output.strip().startswith("factory lint: internal error: KeyError: 'boom' (at ")
