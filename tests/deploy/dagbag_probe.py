"""Parse a dags folder as MWAA's DAG processor would and print what came out, as JSON.

Run as a subprocess with a clean environment (see test_mwaa_layout.py), so no state of
the test process (imported modules, sys.path, the editable factory install) leaks in:
    python dagbag_probe.py FOLDER
"""

import json
import sys
from pathlib import Path

folder = Path(sys.argv[1]).resolve()
# MWAA puts the dags folder on sys.path (Airflow's BundleDagBag does the same); plain
# DagBag does not, so do it here, first, so the package copy beats any installed one.
sys.path.insert(0, str(folder))

from airflow.dag_processing.dagbag import DagBag  # noqa: E402

bag = DagBag(dag_folder=str(folder))
import factory  # noqa: E402  (already imported by the loader: report which copy)

print(
    json.dumps(
        {
            "dags": {dag_id: sorted({type(t).__name__ for t in dag.tasks}) for dag_id, dag in bag.dags.items()},
            "import_errors": {str(k): v for k, v in bag.import_errors.items()},
            "parsed_files": sorted(str(Path(stat.file)) for stat in bag.dagbag_stats),
            "factory_file": factory.__file__,
        }
    )
)
