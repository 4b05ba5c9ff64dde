"""The DAG's docs in the Airflow UI, built from the spec (factory/compile/docs.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from factory.check import SpecChecker
from factory.load.layout import Project
from factory.read import Reader

REPO = Path(__file__).resolve().parents[1]
SPEC = """\
description: "Nightly <b>sales</b> rollup | per region"
owner: sales-analytics
start_date: 2024-01-01
schedule: "0 3 * * *"
timezone: Europe/Paris
tasks:
  extract:
    image: registry.example.com/extract:1.4
    cpu: 0.3
    memory: 700MiB
    env: {REGION: north}
    secrets: {DB_PASSWORD: /sales/db-password}
  alert:
    image: registry.example.com/notify:1.0
    depends_on: [extract]
    run_if: one_failed
"""


def _docs(tmp_path: Path, runtime: str, spec_link: str | None) -> str:
    from factory.compile.dag import build_dag

    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    (tmp_path / "specs" / "sales").mkdir(parents=True)
    platform = (REPO / "specs" / "_platform.yaml").read_text()
    if spec_link:
        platform = f"spec_link: {spec_link}\n{platform}"
    (tmp_path / "specs" / "_platform.yaml").write_text(platform)
    (tmp_path / "specs" / "sales" / "rollup.yaml").write_text(SPEC)
    project = Project.at(tmp_path)
    checker = SpecChecker.for_runtime(Reader(project), runtime)
    models, errors = checker.check_all(project.spec_files())
    assert errors == {}
    (spec,) = models.values()
    return build_dag(spec, checker.platform, runtime).doc_md


@pytest.mark.parametrize("runtime", ["onprem", "mwaa"])
def test_the_docs_say_what_who_where_when_and_which_tasks(tmp_path: Path, runtime: str) -> None:
    link = "https://github.com/acme/data/blob/main/{path}"
    docs = _docs(tmp_path, runtime, link)
    # The analyst's words stay text: no HTML, no broken table.
    assert docs.startswith("Nightly &lt;b&gt;sales&lt;/b&gt; rollup \\| per region\n")
    assert "- **Owner:** sales-analytics" in docs
    assert (
        "- **Spec:** [`specs/sales/rollup.yaml`](https://github.com/acme/data/blob/main/specs/sales/rollup.yaml)"
        in docs
    )
    assert "- **Runs:** `0 3 * * *` (Europe/Paris)" in docs
    assert "| alert | `registry.example.com/notify:1.0` | 0.25 vCPU | 512 MiB | extract (one failed) |" in docs
    extract = next(line for line in docs.splitlines() if line.startswith("| extract |"))
    if runtime == "mwaa":  # what Fargate runs instead
        sizes = "0.3 vCPU (Fargate: 0.5) | 700 MiB (Fargate: 1 GiB)"
        assert extract == f"| extract | `registry.example.com/extract:1.4` | {sizes} | - |"
    else:
        assert extract == "| extract | `registry.example.com/extract:1.4` | 0.3 vCPU | 700 MiB | - |"
    # Never a value the container gets: not the env, not the secret's name.
    assert "north" not in docs and "db-password" not in docs and "DB_PASSWORD" not in docs


def test_without_a_spec_link_the_docs_name_the_file(tmp_path: Path) -> None:
    assert "- **Spec:** `specs/sales/rollup.yaml`\n" in _docs(tmp_path, "onprem", None)
