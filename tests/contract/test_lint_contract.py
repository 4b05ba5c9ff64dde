"""The lint contract, as a property: for any spec file,

- `factory lint` accepts it  <=>  Airflow's DagBag builds its DAG, with no import error,
  on both runtimes (onprem and mwaa);
- lint rejects it  <=>  the DAG is missing and Airflow's import errors name exactly the
  problems lint printed, at the same file, line and column (the union over both
  runtimes: a Fargate size only MWAA refuses is still a lint error).

Specs come from strategies.py: generated from the schema, then mutated. Both sides read
the same file in the same project: lint through `factory.lint.lint_paths`, the loader
through a real DagBag over a dags folder holding the loader files and
`factory_spec_errors.py`, as Airflow's DAG processor reads them.

Every case that ever broke the contract is kept in corpus/ and checked on every run
(`test_corpus_case`). A new failure is written there by the property test itself, shrunk,
so committing it keeps it. The property test is deterministic under CI (derandomize)
and bounded; FACTORY_CONTRACT_EXAMPLES=N runs N fresh random examples instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import strategies
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from factory.lint import lint_paths
from factory.load.shards import LOADER_FILES

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).parent / "corpus"
SPEC_REL = "specs/team/job.yaml"
DAG_ID = "team.job"
EXPLORE = int(os.environ.get("FACTORY_CONTRACT_EXAMPLES", "0"))


class Bed:
    """One project on disk (schemas, the platform file, both DAG files), reused for
    every case: only the spec file changes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "specs" / "team").mkdir(parents=True)
        shutil.copytree(REPO / "schemas", root / "schemas")
        shutil.copy2(REPO / "specs" / "_platform.yaml", root / "specs" / "_platform.yaml")
        (root / "specs" / "_defaults.yaml").write_text("owner: analytics\nstart_date: 2024-01-01\n")
        (root / "dags").mkdir()
        for name in (*LOADER_FILES, "factory_spec_errors.py", ".airflowignore"):
            shutil.copy2(REPO / "dags" / name, root / "dags" / name)
        self.spec = root / SPEC_REL

    def lint(self) -> set[str]:
        """Lint's errors, each as one line `path:line:col: message (hint)`."""
        return {str(d) for d in lint_paths([self.spec]).errors}

    def dagbag(self, runtime: str, monkeypatch: pytest.MonkeyPatch) -> tuple[bool, set[str], dict[str, str]]:
        """(the spec's DAG built, the problems the reporter names for it, all import errors)."""
        from airflow.dag_processing.dagbag import DagBag

        monkeypatch.setenv("FACTORY_RUNTIME", runtime)
        bag = DagBag(dag_folder=str(self.root / "dags"), safe_mode=True)
        errors = {Path(k).name: v for k, v in bag.import_errors.items()}
        reported = {line for text in errors.values() for line in text.splitlines() if line.startswith(SPEC_REL)}
        return DAG_ID in bag.dags, reported, errors


@pytest.fixture(scope="module")
def contract_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract")


@pytest.fixture(scope="module")
def bed(contract_root: Path) -> Bed:
    return Bed(contract_root / "bed")


def check_agreement(bed: Bed, text: str, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Assert the contract for one file; lint's errors."""
    bed.spec.write_text(text, encoding="utf-8")
    monkeypatch.chdir(bed.root)  # lint names files relative to here, as the reporter does
    lint_errors = bed.lint()
    union: set[str] = set()
    for runtime in ("onprem", "mwaa"):
        built, reported, errors = bed.dagbag(runtime, monkeypatch)
        # A loader file never has an import error: that would hide its DAGs.
        assert not set(LOADER_FILES) & set(errors), (runtime, errors)
        assert built == (not reported), (runtime, built, reported, errors)
        if not lint_errors:
            assert built and not errors, (runtime, errors)
        union |= reported
    assert union == lint_errors, {"lint only": lint_errors - union, "loader only": union - lint_errors}
    return lint_errors


_RECORDED: list[Path] = []


def _record(how: str, text: str) -> Path:
    """Keep the failing case in the corpus. Hypothesis shrinks a failure through ever
    smaller failing cases and replays the smallest last: only that one is kept."""
    for earlier in _RECORDED:
        earlier.unlink(missing_ok=True)
    CORPUS.mkdir(exist_ok=True)
    path = CORPUS / strategies.corpus_name(how, text)
    path.write_text(text, encoding="utf-8")
    _RECORDED[:] = [path]
    return path


PROPERTY_SETTINGS = settings(
    max_examples=EXPLORE or 600,
    derandomize=not EXPLORE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)


@pytest.mark.slow
@PROPERTY_SETTINGS
@given(data=st.data())
def test_lint_and_the_loader_agree_on_generated_specs(
    data: st.DataObject, bed: Bed, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = data.draw(strategies.valid_specs(), label="spec")
    how, text = data.draw(strategies.mutated(spec), label="mutation")
    event(f"mutation: {how}")
    try:
        event("lint: " + ("rejects" if check_agreement(bed, text, monkeypatch) else "accepts"))
    except Exception as exc:  # a crash breaks the contract as much as a disagreement
        path = _record(how, text)
        raise AssertionError(f"lint and the loader disagree ({how}); the case is saved as {path}: {exc!r}") from exc


CASES = sorted(CORPUS.glob("*.yaml")) if CORPUS.is_dir() else []


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_corpus_case(case: Path, contract_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = contract_root / f"corpus-{case.stem}"
    check_agreement(Bed(root), case.read_text(encoding="utf-8"), monkeypatch)
