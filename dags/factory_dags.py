"""Airflow DAG file: one DAG per spec under specs/ (see factory.loader).

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
