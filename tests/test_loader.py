"""Airflow's own DagBag over dags/: one DAG per spec, the right operators, and broken
specs reported as import errors without hiding the good ones."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from factory.compile import UnknownRuntimeError, detect_runtime
from factory.load.layout import Project

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_IDS = sorted(Project.at(REPO).dag_id(p) for p in Project.at(REPO).spec_files())

# Airflow's provider discovery imports each installed provider's package info, so a
# missing provider is simulated one level down, where operators and hooks live.
NO_AMAZON = "airflow.providers.amazon.aws"
NO_DOCKER = "airflow.providers.docker.operators,airflow.providers.docker.hooks"

# Run in a fresh interpreter: which provider modules get imported is the point of
# some checks, and a DagBag in this process would share imports with other tests.
_PARSE = textwrap.dedent(
    """
    import json, sys
    blocked = [b for b in sys.argv[1].split(",") if b]
    class Block:
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in blocked):
                raise ImportError(f"{name} is not installed on this runtime (blocked by the test)")
    sys.meta_path.insert(0, Block())
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[2])
    print(json.dumps({
        "errors": bag.import_errors,
        "dags": {d.dag_id: {t.task_id: [type(t).__name__, sorted(t.upstream_task_ids), t.trigger_rule,
                                        getattr(t, "is_teardown", False)]
                            for t in d.tasks} for d in bag.dags.values()},
    }))
    """
)


def parse_dags(runtime: str, blocked: str = "", dags: Path = REPO / "dags", home: Path | None = None) -> dict:
    env = {**os.environ, "FACTORY_RUNTIME": runtime}
    if home:
        env["FACTORY_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-c", _PARSE, blocked, str(dags)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_examples_exist() -> None:
    assert len(EXAMPLE_IDS) >= 2


def test_onprem_parse_gives_docker_tasks_a_cleanup_and_a_verdict_without_the_amazon_provider() -> None:
    result = parse_dags("onprem", blocked=NO_AMAZON)
    # Only a spec that waits for S3 needs the amazon provider: it alone is an error,
    # at its wait, saying what is missing; every other example loads.
    waiting = sorted(
        i for i in EXAMPLE_IDS if "wait_for:" in (REPO / "specs" / f"{i.replace('.', '/')}.yaml").read_text()
    )
    assert waiting == ["examples.orders_extract"]
    (report,) = result["errors"].values()
    assert (
        "specs/examples/orders_extract.yaml:8:1: wait_for needs apache-airflow-providers-amazon, which this" in report
    )
    # The chain after it cannot run either, and each says why, at its own line.
    assert (
        "specs/examples/orders_totals.yaml:4:9: 'examples.raw_orders' comes only from a spec that has errors" in report
    )
    assert "specs/examples/orders_publish.yaml:4:9: 'examples.orders_totals' comes only from a spec that" in report
    chain = ["examples.orders_extract", "examples.orders_publish", "examples.orders_totals"]
    assert sorted(result["dags"]) == sorted(set(EXAMPLE_IDS) - set(chain))
    for dag_id, tasks in result["dags"].items():
        cleanup, cleanup_done, verdict = (tasks.pop(name) for name in ("cleanup", "cleanup_done", "verdict"))
        _pop_fan_out_readers(tasks)
        assert cleanup[0] == "FactoryCleanupOperator"
        assert sorted(cleanup[1]) == sorted(tasks), f"{dag_id}: cleanup must wait for every task"
        assert cleanup[2] == "all_done", f"{dag_id}: cleanup must run whatever happened to the tasks"
        # It is not a leaf, so its result does not decide the run's state; the verdict does.
        assert cleanup_done[:3] == ["EmptyOperator", ["cleanup"], "all_done"]
        # A failure step (run_if: one_failed) has no say in it (factory/compile/dag.py).
        work = sorted(name for name, task in tasks.items() if task[2] != "one_failed")
        assert verdict[:3] == ["EmptyOperator", work, "all_success"]
        # A teardown would keep a run a person marks failed running (tests/onprem/test_mark_failed.py).
        assert not any(task[3] for task in (cleanup, cleanup_done, verdict, *tasks.values())), dag_id
        assert {t[0] for t in tasks.values()} - {"MappedOperator"} == {"FactoryDockerOperator"}


def test_mwaa_parse_gives_ecs_tasks_without_the_docker_provider() -> None:
    result = parse_dags("mwaa", blocked=NO_DOCKER)
    assert result["errors"] == {}
    assert sorted(result["dags"]) == EXAMPLE_IDS
    for dag_id, tasks in result["dags"].items():
        assert "cleanup" not in tasks
        _pop_waits(tasks)
        _pop_fan_out_readers(tasks)
        # The verdict after every ECS task: it announces the pipeline's success (its asset).
        verdict = tasks.pop("verdict")
        work = sorted(name for name, task in tasks.items() if task[2] != "one_failed")
        assert verdict[:3] == ["EmptyOperator", work, "all_success"], dag_id
        assert {t[0] for t in tasks.values()} - {"MappedOperator"} == {"FactoryEcsRunTaskOperator"}


def _pop_fan_out_readers(tasks: dict[str, list]) -> None:
    """Take out the tasks that read a fan-out's list parameter (tests/test_fan_out.py),
    checking each is in front of the copies it feeds, and that only they are mapped."""
    readers = [n for n, t in tasks.items() if t[0] == "FactoryItemsOperator"]
    for name in readers:
        tasks.pop(name)
        fanned = tasks[name.removesuffix("_items")]
        assert fanned[0] == "MappedOperator" and name in fanned[1], name
    fanned_by_values = {n for n, t in tasks.items() if t[0] == "MappedOperator"} - {
        r[: -len("_items")] for r in readers
    }
    assert fanned_by_values == set()  # no example fans out over values written in the spec


def _pop_waits(tasks: dict[str, list]) -> None:
    """Take out a DAG's waits for S3 objects (tests/test_waits.py), checking they come first."""
    for name in [n for n, t in tasks.items() if t[0] == "FactoryS3WaitSensor"]:
        tasks.pop(name)
        assert any(name in t[1] for t in tasks.values()), f"{name} is in front of no task"


def test_dependencies_follow_depends_on() -> None:
    tasks = parse_dags("onprem")["dags"]["sales.daily_rollup"]
    assert tasks["rollup"][1] == ["extract"]
    assert tasks["extract"][1] == []


def test_a_broken_spec_is_an_import_error_with_its_line_and_the_others_still_load(tmp_path: Path) -> None:
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    (tmp_path / "specs" / "sales" / "broken.yaml").write_text(
        "description: broken\ntasks:\n  a:\n    image: img:1\n    dependson: [b]\n"
    )
    (tmp_path / "specs" / "garbage.yaml").write_bytes(b"a: [\n")
    result = parse_dags("onprem", home=tmp_path)
    assert sorted(result["dags"]) == EXAMPLE_IDS
    # Reported by the file that holds no DAG: on Airflow 3 an import error hides every
    # DAG of its file, so the loader itself must never have one for a spec problem.
    ((reporter, message),) = result["errors"].items()
    assert Path(reporter).name == "factory_spec_errors.py"
    assert message.startswith(f"SpecErrors: 2 of {len(EXAMPLE_IDS) + 2} spec files have errors and are not loaded")
    assert f"The other {len(EXAMPLE_IDS)} are loaded as usual." in message
    assert "specs/sales/broken.yaml:5:5: unknown key 'dependson'" in message
    assert "did you mean 'depends_on'?" in message
    assert "specs/garbage.yaml:2:1: invalid YAML" in message


def test_a_broken_platform_file_is_reported_and_builds_nothing_wrong(tmp_path: Path) -> None:
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    (tmp_path / "specs" / "_platform.yaml").write_text("onprem:\n  docker_uri: tcp://x\n")
    result = parse_dags("onprem", home=tmp_path)
    assert result["dags"] == {}
    (message,) = result["errors"].values()
    assert "specs/_platform.yaml:2:3: unknown key 'docker_uri'" in message


def test_a_spec_that_passes_the_checks_but_cannot_compile_is_reported_and_hides_nothing(tmp_path: Path) -> None:
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    # A missing docker provider stands for any compile failure the checks cannot foresee:
    # every spec passes them, and none compiles.
    env_backup = dict(os.environ)
    try:
        os.environ["FACTORY_CACHE_DIR"] = str(tmp_path / "cache")
        parse_dags("onprem", blocked=NO_DOCKER, home=tmp_path)
        # Twice: a DagBag reads the files in the folder's order, so some loader files may
        # come after the reporter, which then reads their hand-over at its next parse (as
        # in the DAG processor, within a parse cycle).
        result = parse_dags("onprem", blocked=NO_DOCKER, home=tmp_path)
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    assert result["dags"] == {}
    ((reporter, message),) = result["errors"].items()
    assert Path(reporter).name == "factory_spec_errors.py"
    # The loader files handed their failures over.
    for dag_id in EXAMPLE_IDS:
        path = "specs/" + dag_id.replace(".", "/") + ".yaml"
        assert f"{path}: cannot compile: ImportError:" in message, message


def test_parsing_context_builds_only_the_dag_being_run(tmp_path: Path) -> None:
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    # A broken neighbour proves the other files were not even read.
    (tmp_path / "specs" / "zz_broken.yaml").write_text("not: [valid\n")
    env_backup = dict(os.environ)
    try:
        os.environ["_AIRFLOW_PARSING_CONTEXT_DAG_ID"] = "sales.daily_rollup"
        os.environ["_AIRFLOW_PARSING_CONTEXT_TASK_ID"] = "extract"
        result = parse_dags("onprem", home=tmp_path)
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    assert list(result["dags"]) == ["sales.daily_rollup"]
    assert result["errors"] == {}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "onprem"),
        ({"AIRFLOW_ENV_NAME": "prod"}, "mwaa"),
        ({"MWAA_AIRFLOW_COMPONENT": "worker"}, "mwaa"),
        ({"MWAA_AIRFLOW_COMPONENT": "worker", "FACTORY_RUNTIME": "onprem"}, "onprem"),
        ({"FACTORY_RUNTIME": " MWAA "}, "mwaa"),
    ],
)
def test_runtime_detection(environ: dict[str, str], expected: str) -> None:
    assert detect_runtime(environ) == expected


def test_an_unknown_runtime_is_refused() -> None:
    with pytest.raises(UnknownRuntimeError, match="not one of onprem, mwaa"):
        detect_runtime({"FACTORY_RUNTIME": "k8s"})


_IMPORTED = textwrap.dedent(
    """
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    prefixes = ("boto3", "botocore", "airflow.providers.amazon.aws", "docker")
    print(json.dumps({
        "dags": sorted(bag.dags), "errors": bag.import_errors,
        "imported": sorted({p for p in prefixes for m in sys.modules if m == p or m.startswith(p + ".")}),
    }))
    """
)


def test_onprem_parse_of_pipelines_that_run_after_each_other_never_imports_the_amazon_provider(tmp_path: Path) -> None:
    # With the provider installed, as on a platform that also deploys to MWAA. An asset
    # whose URI scheme Airflow would normalise makes it import every provider's URI
    # handlers, the Amazon provider's S3 hook and boto3 among them, in every loader
    # file's process (factory/compile/assets.py).
    from spec_projects import spec_project

    task = 'tasks:\n  t:\n    image: busybox:1.36\n    command: ["true"]\n'
    spec_project(
        tmp_path,
        {
            "_defaults.yaml": "owner: analytics\nstart_date: 2024-01-01\n",
            "a/up.yaml": "description: first\nschedule: '@daily'\n" + task + "    updates: [raw]\n",
            "a/down.yaml": "description: after up\nafter: [raw, a.up]\n" + task,
        },
    )
    shutil.copytree(REPO / "dags", tmp_path / "dags")
    env = {**os.environ, "FACTORY_RUNTIME": "onprem", "FACTORY_HOME": str(tmp_path)}
    env["FACTORY_CACHE_DIR"] = str(tmp_path / "cache")
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTED, str(tmp_path / "dags")], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == {} and result["dags"] == ["a.down", "a.up"]
    assert result["imported"] == ["docker"], "on-prem needs the Docker SDK, and nothing of AWS"
