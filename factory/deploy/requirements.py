"""The requirements.txt an MWAA environment needs for the factory: a constraint line, nothing else.

Why nothing else: the factory ships inside the dags folder (MWAA puts that folder on
sys.path), and what it imports at parse and run time is already in every MWAA image:
PyYAML and jsonschema (Airflow's own dependencies) and the Amazon provider (MWAA
installs it). Listing the provider anyway would be harmful: pip would resolve it against
the Apache constraints file, which may pin another version than the one MWAA installed.

MWAA requires a `--constraint` line from Airflow 2.7.2 on and imposes its own when there
is none; the line written here is the form MWAA documents:
    --constraint "https://raw.githubusercontent.com/apache/airflow/constraints-V/constraints-P.txt"
with V the Airflow version and P the Python version of the MWAA image.
"""

from __future__ import annotations

import re

# Python of each MWAA image the factory supports (from MWAA's images and their
# constraints files; see shared/mwaa). A version not listed needs --python-version.
MWAA_PYTHON = {
    "2.10.1": "3.11",
    "2.10.3": "3.11",
    "2.11.0": "3.12",
    "3.0.6": "3.12",
    "3.3.1": "3.12",
}
LATEST = "3.3.1"
# The factory's loader and compilers support Airflow 2.10 and later.
MINIMUM_AIRFLOW = (2, 10)
MARK = "# factory: "
_CONSTRAINT = re.compile(r"^\s*(-c\s|--constraint[\s=])")
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_PYTHON = re.compile(r"^3\.\d+$")


class RequirementsError(Exception):
    pass


def python_for(airflow_version: str, python_version: str | None = None) -> str:
    match = _VERSION.match(airflow_version)
    if not match:
        raise RequirementsError(f"Airflow version must look like 2.10.3, got {airflow_version!r}")
    if (int(match.group(1)), int(match.group(2))) < MINIMUM_AIRFLOW:
        raise RequirementsError(
            f"the factory needs Airflow {'.'.join(map(str, MINIMUM_AIRFLOW))} or later on MWAA; "
            f"{airflow_version} is older: upgrade the environment"
        )
    if python_version:
        if not _PYTHON.match(python_version):
            raise RequirementsError(f"Python version must look like 3.12, got {python_version!r}")
        return python_version
    if airflow_version not in MWAA_PYTHON:
        raise RequirementsError(
            f"the Python version of MWAA's Airflow {airflow_version} image is not known to this factory: "
            f"pass --python-version (known: {', '.join(sorted(MWAA_PYTHON))})"
        )
    return MWAA_PYTHON[airflow_version]


def constraint_url(airflow_version: str, python_version: str) -> str:
    return (
        "https://raw.githubusercontent.com/apache/airflow/"
        f"constraints-{airflow_version}/constraints-{python_version}.txt"
    )


def render(airflow_version: str, python_version: str, existing: str = "") -> str:
    """The requirements file. Lines of an existing file are kept, except its constraint
    line and what an earlier run of this command wrote, which are replaced."""
    kept = [line for line in existing.splitlines() if not line.startswith(MARK) and not _CONSTRAINT.match(line)]
    while kept and not kept[0].strip():
        kept.pop(0)
    header = [
        f"{MARK}requirements.txt for Amazon MWAA with Apache Airflow {airflow_version} (Python {python_version}).",
        f"{MARK}MWAA needs a --constraint line; this one matches the packages of MWAA's image.",
        f"{MARK}The factory itself needs no package here: it ships in the dags folder, and",
        f"{MARK}PyYAML, jsonschema and the Amazon provider are already in MWAA's image.",
        f'--constraint "{constraint_url(airflow_version, python_version)}"',
    ]
    return "\n".join(header + kept) + "\n"
