"""No spec problem hides a good DAG, in the real DAG processor of each MWAA version.

For every MWAA version (its exact packages, mwaa_venvs.py) and both layouts (this
checkout's, and the dags folder as synced to the MWAA bucket), in a temporary folder
with a fresh SQLite metadata DB: the specs of this repository plus a spec with a key
typo and a file of garbage YAML, then one pass of Airflow's own DagFileProcessorManager
at a time, each read back from the `dag` and `import_error` tables:

1. every example spec's DAG is active; the only import error is that of
   dags/factory_spec_errors.py, naming both bad files as `path:line:col: message`;
2. the typo fixed and the garbage removed: no import error, the fixed spec's DAG active
   (and on 3.0 the reporter's own task-less DAG, without which 3.0 keeps the old error);
3. a spec deleted: its DAG is no longer active, the others are;
4. the typo back: the import error is back, naming it; only that spec's DAG goes.

One pass is what each version's command line runs to completion:

- 3.x: `airflow dag-processor -n 1`;
- 2.10/2.11: `airflow scheduler -n N`. Their `airflow dag-processor` refuses SQLite
  (cli/commands/dag_processor_command.py), and on SQLite the scheduler drives its
  DagFileProcessorManager synchronously, one file per scheduler loop
  (jobs/scheduler_job_runner.py, `_run_scheduler_loop`), so N is one loop per DAG file
  and one more.

How a version marks a DAG gone differs: on 3.x the manager's `deactivate_stale_dags`
sets `is_stale` once the file is re-parsed more than `[dag_processor] stale_dag_threshold`
after the DAG was last seen, checked every `[scheduler] parsing_cleanup_interval` (both
shortened here so one pass decides); on 2.x a scheduler that processed every file
clears `is_active` on exit for each DAG not parsed since it started
(`DAG.deactivate_stale_dags`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mwaa_venvs
import pytest
import scenarios
from aws_harness import REPO

from factory.load.layout import REPORTER_FILE, Project
from factory.load.shards import LOADER_FILES
from factory.loader import SENTINEL_DAG_ID

pytestmark = pytest.mark.slow

MIGRATE_TIMEOUT = 180  # seconds; `airflow db migrate` takes about 5 here
PASS_TIMEOUT = 180  # seconds for one parsing pass, start-up and exit included (5-20 here)
STALE_DAG_THRESHOLD = 5  # seconds (Airflow's default is 50); used by 3.x, see above

BROKEN = "examples/broken_key.yaml"
GARBAGE = "examples/garbage.yaml"
DELETED = "examples/shell_report.yaml"
BROKEN_SPEC, TYPO_LINE, GARBAGE_SPEC = scenarios.BROKEN_SPEC, scenarios.TYPO_LINE, scenarios.GARBAGE_SPEC


def example_dag_ids() -> set[str]:
    project = Project.at(REPO)
    return {project.dag_id(path) for path in project.spec_files()}


def dag_id_of(spec: str) -> str:
    return spec.removesuffix(".yaml").replace("/", ".")


@dataclass(frozen=True)
class DagRow:
    active: bool  # 3.x: not is_stale; 2.x: is_active
    has_import_errors: bool
    last_parsed: datetime | None


@dataclass(frozen=True)
class ImportErrorRow:
    filename: str
    stacktrace: str


@dataclass(frozen=True)
class Snapshot:
    dags: dict[str, DagRow]
    import_errors: list[ImportErrorRow]
    started: datetime  # when the pass began (UTC, naive like the DB's timestamps)
    seconds: float


def _timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def read_db(db: Path, major: int) -> tuple[dict[str, DagRow], list[ImportErrorRow]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        columns = {row[1] for row in con.execute("pragma table_info(dag)")}
        # Airflow 3 replaced dag.is_active with its opposite, dag.is_stale.
        flag = "is_stale" if major >= 3 else "is_active"
        assert flag in columns, f"Airflow {major}.x has no dag.{flag}: {sorted(columns)}"
        dags = {
            dag_id: DagRow(
                active=not value if flag == "is_stale" else bool(value),
                has_import_errors=bool(has_errors),
                last_parsed=_timestamp(parsed),
            )
            for dag_id, value, has_errors, parsed in con.execute(
                f"select dag_id, {flag}, has_import_errors, last_parsed_time from dag"
            )
        }
        errors = [ImportErrorRow(f, s) for f, s in con.execute("select filename, stacktrace from import_error")]
    return dags, errors


def _session_members(session: int) -> list[int]:
    """The processes of one session (the one we started the command in)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session:  # after "pid (comm)": state ppid pgrp session
            members.append(int(stat.parent.name))
    return members


def _end_session(session: int) -> None:
    for pid in _session_members(session):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Airflow:
    """One MWAA version's Airflow on one dags folder, with its own home and SQLite DB."""

    def __init__(self, venv: mwaa_venvs.MwaaVenv, home: Path, dags: Path, env: dict[str, str]) -> None:
        self.venv, self.home, self.dags = venv, home, dags
        self.major = int(venv.version.split(".")[0])
        self.db = home / "airflow.db"
        self.runs = 0
        self.finished = 0.0  # time.monotonic() at the end of the last pass
        home.mkdir(parents=True)
        self.env = scenarios.base_environment(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db}",
                **env,
            }
        )
        if self.major >= 3:
            # A DAG gone from its file is stale after one pass (see the docstring). Not on
            # 2.x: its scheduler also runs a timer on this interval, which at 0 never returns
            # (utils/event_scheduler.py re-enters it at once).
            self.env["AIRFLOW__SCHEDULER__PARSING_CLEANUP_INTERVAL"] = "0"
            self.env["AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD"] = str(STALE_DAG_THRESHOLD)
        else:
            # One DAG file per scheduler loop (see the docstring), and an idle loop sleeps
            # `scheduler_idle_sleep_time` (1 s): most of a pass was sleeping.
            self.env["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] = "0.1"

    def run(self, args: list[str], timeout: float) -> str:
        """Run `airflow ARGS` to its end, or kill every process it started after `timeout`."""
        self.runs += 1
        log = self.home / f"{self.runs:02d}-{args[0]}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [str(self.venv.python), "-m", "airflow", *args],
                env=self.env,
                cwd=self.home,  # not the repository: `factory` must come from the layout
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _end_session(proc.pid)  # what it left behind too (2.x's manager has its own group)
                proc.wait()
        text = log.read_text(errors="replace")
        command = f"MWAA {self.venv.version}: airflow {' '.join(args)}"
        if timed_out:
            pytest.fail(f"{command} did not finish in {timeout}s and was killed; {log}:\n{text[-6000:]}")
        if proc.returncode != 0:
            pytest.fail(f"{command} exited with {proc.returncode}; {log}:\n{text[-6000:]}")
        return text

    def migrate(self) -> None:
        self.run(["db", "migrate"], MIGRATE_TIMEOUT)

    def parsing_pass(self) -> Snapshot:
        if self.major >= 3:
            args = ["dag-processor", "-n", "1"]
        else:
            loops = len(list(self.dags.glob("*.py"))) + 1
            args = ["scheduler", "-n", str(loops), "--skip-serve-logs"]
        started = datetime.now(UTC).replace(tzinfo=None)
        clock = time.monotonic()
        self.run(args, PASS_TIMEOUT)
        self.finished = time.monotonic()
        seconds = self.finished - clock
        dags, errors = read_db(self.db, self.major)
        return Snapshot(dags, errors, started, seconds)


def lay_out(tmp: Path, layout: str) -> tuple[Path, Path, dict[str, str]]:
    """(dags folder, folder holding specs/, environment) of a temporary copy of the project."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    if layout == "checkout":
        # As in this repository: dags/ with specs/, schemas/ and the package beside it.
        root, dags = tmp / "project", tmp / "project" / "dags"
        env = {"FACTORY_HOME": str(root), "FACTORY_RUNTIME": "mwaa"}
    else:
        # As synced to the MWAA bucket: everything inside the dags folder, which MWAA puts
        # on sys.path; the runtime recognised from the variables MWAA sets.
        root = dags = tmp / "bucket" / "dags"
        env = {"AIRFLOW_ENV_NAME": "factory-test", "MWAA_AIRFLOW_COMPONENT": "scheduler"}
    dags.mkdir(parents=True)
    for name in (*LOADER_FILES, REPORTER_FILE, ".airflowignore"):
        shutil.copy2(REPO / "dags" / name, dags)
    for folder in ("factory", "schemas", "specs"):
        shutil.copytree(REPO / folder, root / folder, ignore=ignore)
    # The spec cache of each run is its own (MWAA's is under the user's cache folder).
    env["FACTORY_CACHE_DIR"] = str(tmp / "factory-cache")
    return dags, root, env


def check_dags(snapshot: Snapshot, expected: set[str], version: str) -> None:
    """Exactly `expected` is active, each parsed in this pass and without import errors."""
    active = {dag_id for dag_id, row in snapshot.dags.items() if row.active}
    assert active == expected, f"MWAA {version}: active DAGs {sorted(active)}, expected {sorted(expected)}"
    for dag_id in expected:
        row = snapshot.dags[dag_id]
        assert not row.has_import_errors, f"MWAA {version}: {dag_id} has_import_errors"
        assert row.last_parsed and row.last_parsed >= snapshot.started, f"MWAA {version}: {dag_id} not parsed"


def check_report(snapshot: Snapshot, dags: Path, head: str, problems: list[str]) -> None:
    """The one import error is the reporter's: `head`, then one line per problem, each
    matching one of `problems` (regular expressions), in spec order."""
    assert len(snapshot.import_errors) == 1, snapshot.import_errors
    error = snapshot.import_errors[0]
    # The file's full path on 3.0 and 2.x; on 3.3 its path in its bundle (dags-folder).
    assert dags / error.filename == dags / REPORTER_FILE, error.filename
    lines = error.stacktrace.splitlines()
    assert lines[0].startswith(f"SpecErrors: {head}"), lines[0]
    assert len(lines) == 1 + len(problems), error.stacktrace
    for line, pattern in zip(lines[1:], problems, strict=True):
        assert re.fullmatch(pattern, line), line


def stale_threshold_passed(airflow: Airflow) -> None:
    """3.x marks a DAG gone from its file stale only once the file's new parse is more than
    the threshold later than the DAG's last (the pass itself takes longer than that)."""
    if airflow.major >= 3:
        time.sleep(max(0.0, STALE_DAG_THRESHOLD + 1 - (time.monotonic() - airflow.finished)))


@pytest.mark.parametrize("layout", ["checkout", "bucket"])
@pytest.mark.parametrize("version", mwaa_venvs.VERSIONS)
def test_spec_errors_never_hide_dags_in_dag_processor(
    version: str, layout: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], record_property: Any
) -> None:
    try:
        venv = mwaa_venvs.ensure(version)
    except Exception as exc:  # noqa: BLE001 - reported as this test's failure, never a skip
        pytest.fail(f"cannot build the MWAA {version} virtualenv: {type(exc).__name__}: {exc}")
    dags, root, env = lay_out(tmp_path, layout)
    specs = root / "specs"
    examples = example_dag_ids()
    broken_id, deleted_id = dag_id_of(BROKEN), dag_id_of(DELETED)
    assert deleted_id in examples and broken_id not in examples
    # Airflow 3.0 clears a file's import error only when the file yields a DAG, so there
    # the reporter holds one while no spec is broken (factory/loader.py, report_spec_errors).
    clean_report = {SENTINEL_DAG_ID} if version.startswith("3.0.") else set()
    typo = re.escape(f"specs/{BROKEN}:{TYPO_LINE}:5: unknown key 'comand' in task 'greet' (did you mean 'command'?)")
    (specs / BROKEN).write_text(BROKEN_SPEC.format(command="comand"))
    (specs / GARBAGE).write_text(GARBAGE_SPEC)

    airflow = Airflow(venv, tmp_path / "airflow-home", dags, env)
    clock = time.monotonic()
    airflow.migrate()
    seconds_migrate = time.monotonic() - clock

    # 1. Two bad files among the examples: every example's DAG is there, active, and the
    # one import error, of the file that holds no DAG to hide, names both.
    first = airflow.parsing_pass()
    check_dags(first, examples, version)
    assert broken_id not in first.dags and dag_id_of(GARBAGE) not in first.dags
    head = f"2 of {len(examples) + 2} spec files have errors and are not loaded: "
    check_report(first, dags, head, [typo, rf"specs/{re.escape(GARBAGE)}:\d+:\d+: invalid YAML: .+"])

    # 2. The typo fixed, the garbage removed: no import error, one DAG more.
    (specs / BROKEN).write_text(BROKEN_SPEC.format(command="command"))
    (specs / GARBAGE).unlink()
    second = airflow.parsing_pass()
    assert second.import_errors == [], second.import_errors[0].stacktrace
    check_dags(second, examples | {broken_id} | clean_report, version)

    # 3. A spec deleted: its DAG is no longer active.
    stale_threshold_passed(airflow)
    (specs / DELETED).unlink()
    third = airflow.parsing_pass()
    assert third.import_errors == [], third.import_errors[0].stacktrace
    check_dags(third, (examples - {deleted_id}) | {broken_id} | clean_report, version)
    assert not third.dags[deleted_id].active

    # 4. The typo back after a clean state: the report is back, and only its DAG goes.
    stale_threshold_passed(airflow)
    (specs / BROKEN).write_text(BROKEN_SPEC.format(command="comand"))
    fourth = airflow.parsing_pass()
    check_dags(fourth, examples - {deleted_id}, version)
    assert not fourth.dags[broken_id].active
    check_report(fourth, dags, f"1 of {len(examples)} spec files have errors and are not loaded: ", [typo])

    passes = [first, second, third, fourth]
    for i, snapshot in enumerate(passes, 1):
        record_property(f"seconds_pass{i}", round(snapshot.seconds, 1))
    record_property("seconds_migrate", round(seconds_migrate, 1))
    timings = ", ".join(f"{s.seconds:.1f}s" for s in passes)
    line = f"MWAA {venv.describe()} {layout}: migrate {seconds_migrate:.1f}s, passes {timings}"
    with capsys.disabled():  # on the terminal even when output is captured
        print(f"\n{line}")
