"""Every file in tests/bad_specs/specs is broken in the way its `# expect:` lines say.

Each expectation is `LINE:COL message-fragment [| hint-fragment]`; the test requires
exactly those diagnostics (no more, no fewer), so a check that stops firing, fires
twice or points at the wrong place fails here.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from factory.diagnostics import SpecError
from factory.load.layout import Project
from factory.read import Reader

BAD = Path(__file__).parent / "bad_specs" / "specs"
EXPECT = re.compile(r"^# expect: (\d+):(\d+) (.+?)(?: \| (.+))?$")


def _expectations(path: Path) -> list[tuple[int, int, str, str | None]]:
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = EXPECT.match(line)
        if match:
            found.append((int(match[1]), int(match[2]), match[3], match[4]))
    return found


BAD_FILES = sorted(p for p in BAD.iterdir() if not p.name.startswith("_"))


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.name)
def test_bad_spec_reports_its_errors_at_their_location(path: Path) -> None:
    expected = _expectations(path)
    assert expected, f"{path.name} has no '# expect:' line"
    reader = Reader(Project.containing(path))
    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        reader.read_spec(path)
    assert time.monotonic() - started < 5, "a bad file must fail fast, not hang"
    got = caught.value.diagnostics
    assert len(got) == len(expected), "\n".join(map(str, got))
    for diagnostic, (line, column, message, hint) in zip(got, expected, strict=True):
        assert (diagnostic.line, diagnostic.column) == (line, column), str(diagnostic)
        assert message in diagnostic.message, str(diagnostic)
        assert diagnostic.path.endswith(path.name)
        if hint:
            assert hint in diagnostic.hint, str(diagnostic)


def test_every_bad_spec_is_named_by_lint_and_none_is_skipped(tmp_path: Path, capsys) -> None:
    from factory.cli import main

    assert main(["lint", str(BAD)]) == 1
    out = capsys.readouterr().out
    for path in BAD_FILES:
        assert path.name in out, f"lint did not report {path.name}"
    assert f"{len(BAD_FILES)} spec(s) checked" in out


def _project_with(tmp_path: Path, name: str, content: bytes) -> Path:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "_defaults.yaml").write_text("owner: tests\nstart_date: 2024-01-01\n")
    path = specs / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        (b"description: caf\xe9\ntasks: {}\n", "not UTF-8 text (byte 0xe9)", 1),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary file", 1),
        (b"description: " + b"x" * (2 * 1024 * 1024) + b"\n", "a spec may be at most 1,048,576 bytes", 0),
    ],
    ids=["latin-1", "binary", "huge"],
)
def test_undecodable_or_oversized_files_get_one_clear_error(tmp_path: Path, content: bytes, message: str, line: int):
    path = _project_with(tmp_path, "bad.yaml", content)
    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        Reader(Project.containing(path)).read_spec(path)
    assert time.monotonic() - started < 2
    (diagnostic,) = caught.value.diagnostics
    assert message in diagnostic.message
    assert diagnostic.line == line
    assert diagnostic.path == "specs/bad.yaml"


def test_python_tags_are_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = _project_with(
        tmp_path,
        "evil.yaml",
        f'description: !!python/object/apply:os.system ["touch {marker}"]\ntasks: {{}}\n'.encode(),
    )
    with pytest.raises(SpecError):
        Reader(Project.containing(path)).read_spec(path)
    assert not marker.exists()


def test_owner_and_start_date_are_required_after_defaults_merge(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    path = specs / "orphan.yaml"
    path.write_text("description: no defaults above\ntasks:\n  a: {image: 'busybox:1'}\n")
    with pytest.raises(SpecError) as caught:
        Reader(Project.containing(path)).read_spec(path)
    messages = [d.message for d in caught.value.diagnostics]
    assert any("no owner" in m for m in messages)
    assert any("no start_date" in m for m in messages)


def test_a_broken_defaults_file_is_reported_with_its_own_location(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    (specs / "team").mkdir(parents=True)
    (specs / "_defaults.yaml").write_text("owner: tests\nstart_date: 2024-01-01\n")
    (specs / "team" / "_defaults.yaml").write_text("retries: many\n")
    path = specs / "team" / "job.yaml"
    path.write_text("description: fine itself\ntasks:\n  a: {image: 'busybox:1'}\n")
    with pytest.raises(SpecError) as caught:
        Reader(Project.containing(path)).read_spec(path)
    located = [(d.path, d.line, d.column) for d in caught.value.diagnostics]
    assert ("specs/team/_defaults.yaml", 1, 10) in located
    assert any("specs/team/_defaults.yaml is invalid" in d.message for d in caught.value.diagnostics)


def test_a_size_fargate_rounds_up_is_a_note_not_an_error(tmp_path: Path, repo: Path, capsys) -> None:
    from factory.cli import main

    specs = tmp_path / "specs"
    specs.mkdir()
    (tmp_path / "schemas").symlink_to(repo / "schemas")
    (specs / "_platform.yaml").write_text(
        "mwaa: {cluster: c, subnets: [s], execution_role_arn: arn:aws:iam::1:role/r, log_group: /g}\n"
    )
    (specs / "_defaults.yaml").write_text("owner: o\nstart_date: 2024-01-01\n")
    (specs / "odd.yaml").write_text("description: d\ntasks:\n  a: {image: 'img:1', cpu: 0.3, memory: 700MiB}\n")
    (specs / "huge.yaml").write_text("description: d\ntasks:\n  a: {image: 'img:1', cpu: 16, memory: 200GiB}\n")
    assert main(["lint", str(specs / "odd.yaml")]) == 0
    out = capsys.readouterr().out
    assert "note: task 'a' on MWAA: 0.3 vCPU and 700 MiB run as 0.5 vCPU and 1 GiB" in out
    assert main(["lint", str(specs / "huge.yaml")]) == 1
    assert "error: task 'a': no Fargate size has 16 vCPU" in capsys.readouterr().out


def test_a_dag_id_longer_than_airflow_allows_is_a_lint_error_naming_the_limit(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    folder = specs.joinpath(*[f"team_{i:02d}_" + "x" * 30 for i in range(7)])
    folder.mkdir(parents=True)
    (specs / "_defaults.yaml").write_text("owner: tests\nstart_date: 2024-01-01\n")
    path = folder / "job.yaml"
    path.write_text("description: deep\ntasks:\n  a: {image: 'busybox:1'}\n")
    dag_id = Project.containing(path).dag_id(path)
    assert len(dag_id) > 250
    with pytest.raises(SpecError) as caught:
        Reader(Project.containing(path)).read_spec(path)
    (diagnostic,) = caught.value.diagnostics
    assert f"has {len(dag_id)} characters and Airflow allows 250" in diagnostic.message
    assert diagnostic.rule == "file-name"


def _descriptions() -> set[str]:
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("description"), str):
                found.add(node["description"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for schema in (Path(__file__).parents[1] / "schemas").glob("*.schema.json"):
        walk(json.loads(schema.read_text()))
    return {d for d in found if len(d) > 30}


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.name)
def test_diagnostics_read_like_a_compiler(path: Path) -> None:
    """The README's style: a short one-line message that says what is wrong, a rule, and
    the schema's description (or other help) in the hint, never in the message."""
    descriptions = _descriptions()
    with pytest.raises(SpecError) as caught:
        Reader(Project.containing(path)).read_spec(path)
    for d in caught.value.diagnostics:
        assert d.rule, str(d)
        assert "\n" not in d.message and len(d.message) <= 160, str(d)
        assert not any(text[:40] in d.message for text in descriptions), str(d)
