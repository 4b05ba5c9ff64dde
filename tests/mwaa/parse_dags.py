"""Parse a dags folder with Airflow's DagBag, as the DAG processor does, and print what
came out as JSON. Runs in a virtualenv holding only what MWAA installs (tests/mwaa).

    python parse_dags.py DAGS_FOLDER [--on-sys-path]

--on-sys-path puts the dags folder on sys.path first, as MWAA does.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from importlib.metadata import version


def main(argv: list[str]) -> int:
    folder = argv[1]
    if "--on-sys-path" in argv:
        sys.path.insert(0, folder)
    started = time.monotonic()
    import airflow  # noqa: F401  (timed apart from the parse)

    imported = time.monotonic()
    try:  # Airflow 3
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=folder)
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

        bag = DagBag(dag_folder=folder, include_examples=False)
    parsed = time.monotonic()
    factory = sys.modules.get("factory")
    report = {
        "airflow": version("apache-airflow"),
        "amazon_provider": version("apache-airflow-providers-amazon"),
        "docker_provider_installed": importlib.util.find_spec("airflow.providers.docker") is not None,
        "docker_modules_imported": sorted(m for m in sys.modules if m.startswith("airflow.providers.docker")),
        "folder": folder,
        "factory_from": getattr(factory, "__file__", None),
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "files_parsed": sorted(str(stat.file) for stat in bag.dagbag_stats),
        "dags": {
            dag_id: {task.task_id: type(task).__name__ for task in dag.tasks}
            for dag_id, dag in sorted(bag.dags.items())
        },
        "seconds_import_airflow": round(imported - started, 2),
        "seconds_parse": round(parsed - imported, 2),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
