"""What starting one task costs on-prem: from the task starting to its container starting.

Run by task_cost.py in a fresh process whose environment points Airflow at a migrated
SQLite DB. The same image runs through two DAGs on this machine's Docker engine, each
run by Airflow's `dag.test()`, alternating so drift on the machine hits both alike:
  - factory: a spec compiled by the real compiler (FactoryDockerOperator);
  - stock: the docker provider's own DockerOperator with the same image, command,
    memory and CPU, and `mount_tmp_dir=False` like the factory (the stock default
    would also bind-mount a host temp dir, which only makes it slower).
"The task starting" is the task instance's start_date, which Airflow records when the
task begins to run (what the UI shows); "the container starting" is the engine's own
State.StartedAt. Both clocks are this machine's.

    python task_cost_onprem.py RUNS OUT.json
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "onprem"))  # the suite's spec project and engine helpers
from onprem_harness import ENGINE_URL, EXAMPLE_IMAGE, SpecProject, engine  # noqa: E402

COMMAND = ["sh", "-c", "echo started"]
BENCH_LABEL = "dev.factory.bench-run"


STOCK_DAG_FILE = f"""\
from datetime import datetime

from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk import DAG

with DAG("stock_docker", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    DockerOperator(
        task_id="extract",
        image={EXAMPLE_IMAGE!r},
        command={COMMAND!r},
        docker_url={ENGINE_URL!r},
        network_mode="bridge",
        mem_limit="256m",
        cpus=0.5,
        mount_tmp_dir=False,
        auto_remove="never",
        labels={{{BENCH_LABEL!r}: "stock"}},  # labels are not templated: one run at a time
    )
"""


def dags_folder(root: Path) -> Path:
    """A DAG folder with the repository's loader files, reading a project of one spec
    (FACTORY_HOME, set before Airflow is imported), and the stock DAG: dag.test() runs
    what Airflow parsed from it."""
    project = SpecProject(root / "project")
    project.write_spec(
        "start", {"extract": {"image": EXAMPLE_IMAGE, "command": COMMAND, "memory": "256MiB", "cpu": 0.5}}
    )
    dags = root / "dags"
    dags.mkdir()
    for loader in (REPO / "dags").glob("*.py"):
        shutil.copy(loader, dags / loader.name)
    (dags / "stock_docker.py").write_text(STOCK_DAG_FILE)
    return dags


def started_at(text: str) -> datetime:
    # The engine gives nanoseconds ("...T16:40:01.123456789Z"); Python takes microseconds.
    head, _, rest = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(rest + '000000')[:6]}+00:00")


def one_run(dag: Any, client: Any, label: str, value: str | None) -> float:
    """Seconds from the task instance's start to its container's start, for one run."""
    run = dag.test(mark_success_pattern="^cleanup$")  # the factory's cleanup task is not measured
    (ti,) = [t for t in run.get_task_instances() if t.task_id == "extract"]
    if str(getattr(ti.state, "value", ti.state)) != "success":
        raise RuntimeError(f"{dag.dag_id}: the task ended {ti.state}")
    (container,) = client.containers(all=True, filters={"label": f"{label}={value or run.run_id}"})
    try:
        state = client.inspect_container(container["Id"])["State"]
        return (started_at(state["StartedAt"]) - ti.start_date).total_seconds()
    finally:
        client.remove_container(container["Id"], force=True)


def main(argv: list[str]) -> int:
    runs, out = int(argv[1]), Path(argv[2])
    root = Path(tempfile.mkdtemp(prefix="factory-task-cost-"))
    folder = dags_folder(root)
    os.environ.update(FACTORY_HOME=str(root / "project"), FACTORY_RUNTIME="onprem")
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(folder)
    from airflow.dag_processing.dagbag import DagBag

    from factory.compile import labels

    client = engine()
    client.inspect_image(EXAMPLE_IMAGE)  # fails here, clearly, when the example image is missing
    bag = DagBag(dag_folder=str(folder))
    if bag.import_errors:
        raise RuntimeError(f"import errors: {bag.import_errors}")
    dags = {
        "factory": (bag.dags["onprem.start"], labels.RUN_ID, None),
        "stock": (bag.dags["stock_docker"], BENCH_LABEL, "stock"),
    }
    for dag, label, value in dags.values():  # one unmeasured run each: imports and first connections
        one_run(dag, client, label, value)
    seconds: dict[str, list[float]] = {name: [] for name in dags}
    for i in range(runs):
        order = list(dags) if i % 2 == 0 else list(reversed(dags))
        for name in order:
            dag, label, value = dags[name]
            seconds[name].append(one_run(dag, client, label, value))
    out.write_text(json.dumps(seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
