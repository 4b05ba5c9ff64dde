"""Airflow DAG file: the DAGs of the good specs whose DAG id hashes to loader file 24 of 32
(factory/load/shards.py says why there are thirty-two).

It never fails for a spec: broken specs are reported by factory_spec_errors.py beside
it, because Airflow 3 hides every DAG of a file that has an import error.
Airflow only parses files that mention both "airflow" and "dag"; this one does.
"""

import os
import sys

try:
    from factory.loader import load_dags
except ImportError:
    # Not pip-installed: the package sits beside this file (as synced to MWAA) or in
    # the checkout above it.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path.append(_here if os.path.isdir(os.path.join(_here, "factory")) else os.path.dirname(_here))
    from factory.loader import load_dags

load_dags(globals(), __file__)
