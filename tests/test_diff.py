"""`factory diff` over real git history in a throwaway repository: a changed image, a
new task, a _defaults.yaml change that reaches several pipelines, a renamed spec, a
removed one, a spec that stops loading, a platform change, and an edit that changes no
DAG. Both sides are compiled (Airflow and both providers are in the test environment),
so the compiled-DAG part is checked too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from git_repos import git

from factory.cli import main

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = "owner: sales\nstart_date: 2024-01-01\nretries: 1\n"
DAILY = """\
description: Daily sales
schedule: "0 3 * * *"
tasks:
  extract:
    image: reg.example.com/extract:1.0
    command: [python, extract.py, "{{ ds }}"]
    secrets: {DB_PASSWORD: /prod/db}
"""
WEEKLY = """\
description: Weekly sales
schedule: "0 4 * * 1"
tasks:
  report:
    image: reg.example.com/report:2.0
"""
CLOSE = """\
description: Month close
owner: finance
start_date: 2024-01-01
schedule: "0 5 1 * *"
tasks:
  close:
    image: reg.example.com/close:3.0
    memory: 1GiB
  book:
    image: reg.example.com/book:3.0
    depends_on: [close]
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """main holds three specs; the work tree is on a branch off it."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    shutil.copytree(REPO / "schemas", root / "schemas")
    (root / "specs").mkdir()
    shutil.copy2(REPO / "specs" / "_platform.yaml", root / "specs")
    _write(
        root,
        {
            "specs/sales/_defaults.yaml": DEFAULTS,
            "specs/sales/daily.yaml": DAILY,
            "specs/sales/weekly.yaml": WEEKLY,
            "specs/finance/close.yaml": CLOSE,
        },
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "checkout", "-qb", "feature")
    monkeypatch.chdir(root)
    return root


def _diff(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    status = main(["diff", *argv, "--format", "json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return status, json.loads(out.out)


def _pipelines(report: dict) -> dict[str, dict]:
    return {item["dag_id"]: item for item in report["pipelines"]}


def _changes(item: dict) -> dict[str, tuple]:
    return {c["key"]: (c["before"], c["after"]) for c in item["changes"]}


def test_no_change_exits_0(repo: Path, capsys) -> None:
    status, report = _diff(capsys)
    assert status == 0
    assert report["pipelines"] == [] and not report["changed"]


def test_an_edit_that_changes_no_dag_is_not_a_change(repo: Path, capsys) -> None:
    text = (repo / "specs/sales/daily.yaml").read_text()
    (repo / "specs/sales/daily.yaml").write_text(
        "# the sales team's\n" + text.replace("    command:", "    # x\n    command:")
    )
    status, report = _diff(capsys)
    assert status == 0
    assert report["files"] == [{"status": "changed", "path": "specs/sales/daily.yaml"}]
    assert report["pipelines"] == []


def test_a_changed_image(repo: Path, capsys) -> None:
    path = repo / "specs/sales/daily.yaml"
    path.write_text(path.read_text().replace("extract:1.0", "extract:1.1"))
    status, report = _diff(capsys)
    assert status == 1
    (daily,) = report["pipelines"]
    assert daily["dag_id"] == "sales.daily" and daily["status"] == "changed"
    assert _changes(daily) == {"tasks.extract.image": ("reg.example.com/extract:1.0", "reg.example.com/extract:1.1")}
    compiled = {rt: {c["key"]: c["after"] for c in found} for rt, found in daily["compiled"].items()}
    assert compiled["onprem"]["tasks.extract.image"] == "reg.example.com/extract:1.1"
    image = "tasks.extract.managed_definition.containerDefinitions.0.image"
    assert compiled["mwaa"][image] == "reg.example.com/extract:1.1"


def test_a_new_task_with_its_size_on_fargate(repo: Path, capsys) -> None:
    path = repo / "specs/sales/weekly.yaml"
    path.write_text(path.read_text() + "  publish:\n    image: reg.example.com/publish:1.0\n"
                    "    depends_on: [report]\n    cpu: 1\n    memory: 3GiB\n")  # fmt: skip
    git(repo, "commit", "-qam", "publish")
    status, report = _diff(capsys)  # merge base with main -> the work tree (the commit)
    assert status == 1
    (weekly,) = report["pipelines"]
    added = _changes(weekly)["tasks.publish"]
    assert added[0] is None
    assert added[1]["image"] == "reg.example.com/publish:1.0" and added[1]["depends_on"] == ["report"]
    assert added[1]["on_mwaa.size"] == "1 vCPU, 3 GiB (Fargate)"
    both = {c["key"]: c for c in weekly["compiled"]["both"]}
    assert both["tasks.verdict.upstream"]["after"] == ["publish", "report"]


def test_a_defaults_change_lists_every_pipeline_it_changes(repo: Path, capsys) -> None:
    (repo / "specs/sales/_defaults.yaml").write_text(DEFAULTS.replace("retries: 1", "retries: 3"))
    status, report = _diff(capsys)
    assert status == 1
    found = _pipelines(report)
    assert set(found) == {"sales.daily", "sales.weekly"}  # not finance.close: no sales defaults there
    assert _changes(found["sales.daily"]) == {"tasks.extract.retries": (1, 3)}
    assert _changes(found["sales.weekly"]) == {"tasks.report.retries": (1, 3)}
    assert found["sales.daily"]["because"] == ["specs/sales/_defaults.yaml"]  # the file behind it


def test_a_renamed_spec_is_one_rename_and_says_what_it_costs(repo: Path, capsys) -> None:
    git(repo, "mv", "specs/finance/close.yaml", "specs/finance/month_close.yaml")
    status, report = _diff(capsys)
    assert status == 1
    (item,) = report["pipelines"]
    assert (item["dag_id"], item["status"], item["renamed_from"]) == ("finance.month_close", "renamed", "finance.close")
    assert item["changes"] == []  # nothing else changed
    assert main(["diff"]) == 1
    assert "no run history" in capsys.readouterr().out


def test_removed_broken_and_added_pipelines(repo: Path, capsys) -> None:
    (repo / "specs/finance/close.yaml").unlink()
    (repo / "specs/sales/weekly.yaml").write_text(WEEKLY.replace("image:", "imag:"))
    _write(repo, {"specs/ops/nightly.yaml": "description: n\nowner: ops\nstart_date: 2024-01-01\n"
                  "tasks:\n  run:\n    image: reg.example.com/ops:1\n"})  # fmt: skip
    status, report = _diff(capsys)
    assert status == 1
    found = _pipelines(report)
    assert found["finance.close"]["status"] == "removed"
    assert found["ops.nightly"]["status"] == "added"
    assert found["sales.weekly"]["status"] == "broken"
    assert any("imag" in problem for problem in found["sales.weekly"]["errors"]["onprem"])


def test_a_platform_change_reaches_every_mwaa_dag(repo: Path, capsys) -> None:
    platform = repo / "specs/_platform.yaml"
    platform.write_text(platform.read_text().replace("log_group: /factory/tasks", "log_group: /factory/jobs"))
    status, report = _diff(capsys)
    assert status == 1
    assert report["platform"] == [{"key": "mwaa.log_group", "before": "/factory/tasks", "after": "/factory/jobs"}]
    found = _pipelines(report)
    assert set(found) == {"sales.daily", "sales.weekly", "finance.close"}
    for item in found.values():
        assert item["changes"] == [] and set(item["compiled"]) == {"mwaa"}


def test_two_revisions_and_a_project_in_a_subfolder(tmp_path: Path, capsys, monkeypatch) -> None:
    root = tmp_path / "mono"
    (root / "data").mkdir(parents=True)
    git(root, "init", "-q", "-b", "trunk")
    shutil.copytree(REPO / "schemas", root / "data" / "schemas")
    _write(root / "data", {"specs/sales/_defaults.yaml": DEFAULTS, "specs/sales/daily.yaml": DAILY})
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    (root / "data/specs/sales/daily.yaml").write_text(DAILY.replace('"0 3 * * *"', '"30 3 * * *"'))
    git(root, "commit", "-qam", "two")
    (root / "data/specs/sales/daily.yaml").write_text(DAILY.replace('"0 3 * * *"', '"0 9 * * *"'))  # not committed
    monkeypatch.chdir(root / "data")
    status, report = _diff(capsys, "HEAD~1", "HEAD")
    assert status == 1
    assert _changes(report["pipelines"][0])["schedule"] == ("0 3 * * *", "30 3 * * *")
    status, report = _diff(capsys, "--main", "trunk")  # the merge base is HEAD itself here
    assert _changes(report["pipelines"][0])["schedule"] == ("30 3 * * *", "0 9 * * *")


def test_markdown_and_text_say_the_same(repo: Path, capsys) -> None:
    path = repo / "specs/sales/daily.yaml"
    path.write_text(path.read_text().replace('[python, extract.py, "{{ ds }}"]', '[sh, -c, "extract | gzip"]'))
    assert main(["diff", "--format", "markdown"]) == 1
    markdown = capsys.readouterr().out
    assert "#### `sales.daily`: changed" in markdown
    # A '|' in a value would end the table cell: it is escaped.
    before, after = (
        "<code>[&quot;python&quot;, &quot;extract.py&quot;, &quot;{{ ds }}&quot;]</code>",
        "<code>[&quot;sh&quot;, &quot;-c&quot;, &quot;extract &#124; gzip&quot;]</code>",
    )
    assert f"| task extract: command | {before} | {after} |" in markdown
    assert "<details><summary>In the compiled DAG" in markdown
    assert main(["diff"]) == 1
    text = capsys.readouterr().out
    assert 'task extract: command: ["python", "extract.py", "{{ ds }}"] -> ["sh", "-c", "extract | gzip"]' in text


BAD_INPUT = {
    "unknown revision": (["nope"], "'nope' is not a revision"),
    "no main branch": (["--main", "trunk"], "no branch trunk to compare with"),
}


@pytest.mark.parametrize(("argv", "why"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_revisions_are_one_line(repo: Path, capsys, argv: list[str], why: str) -> None:
    assert main(["diff", *argv]) == 2
    err = capsys.readouterr().err
    assert why in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_outside_a_repository(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "specs").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert main(["diff"]) == 2
    assert "not in a git repository" in capsys.readouterr().err
