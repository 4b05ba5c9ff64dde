"""How long a loader file may spend building DAGs before it stops and says so.

Airflow kills a DAG file's parse at `[core] dagbag_import_timeout` (30 s by default;
the file's DAGs are then an import error, so all of them go stale) and its whole
processor at `dag_file_processor_timeout` (50 s; then nothing is recorded at all, not
even an error). After the loader fills the DagBag, Airflow still serialises every DAG
and sends it to the manager in that process: at 10,000 specs in one file that took 1.5
times the fill (docs/benchmarks.md). So the loader stops building new DAGs at a quarter
of the processor's timeout or half of the import timeout, whichever comes first: the
DAGs it built are kept, and the reporter names the specs it did not reach. The loader
files are sized so that this never happens in normal running (factory/load/shards.py);
it is the limit on what one slow parse can lose.

FACTORY_PARSE_BUDGET (seconds) overrides it, for a platform whose machines are slower
than its timeouts assume.
"""

from __future__ import annotations

import os

DEFAULT_IMPORT_TIMEOUT = 30.0
DEFAULT_PROCESSOR_TIMEOUT = 50.0


def parse_budget() -> tuple[float, str]:
    """The budget in seconds, and how it was set (for the report when it runs out)."""
    explicit = os.environ.get("FACTORY_PARSE_BUDGET")
    if explicit:
        try:
            return max(float(explicit), 0.0), "FACTORY_PARSE_BUDGET"
        except ValueError:
            pass  # unusable: the timeouts decide
    import_timeout, processor_timeout = _timeouts()
    limits = [(processor_timeout / 4, f"a quarter of dag_file_processor_timeout ({processor_timeout:g} s)")]
    if import_timeout > 0:  # 0 turns Airflow's import timeout off
        limits.append((import_timeout / 2, f"half of dagbag_import_timeout ({import_timeout:g} s)"))
    return min(limits)


def _timeouts() -> tuple[float, float]:
    """Airflow's two timeouts, as this deployment configures them. Configuration only:
    no database, no Variable."""
    try:
        from airflow.configuration import conf
    except ImportError:
        return DEFAULT_IMPORT_TIMEOUT, DEFAULT_PROCESSOR_TIMEOUT
    try:
        import_timeout = conf.getfloat("core", "dagbag_import_timeout", fallback=DEFAULT_IMPORT_TIMEOUT)
        # [dag_processor] from Airflow 3; [core] before (3 still reads the old place).
        section = "dag_processor" if conf.has_option("dag_processor", "dag_file_processor_timeout") else "core"
        processor_timeout = conf.getfloat(section, "dag_file_processor_timeout", fallback=DEFAULT_PROCESSOR_TIMEOUT)
    except Exception:  # noqa: BLE001 - AirflowConfigException moved between versions; Airflow reports a bad value itself
        return DEFAULT_IMPORT_TIMEOUT, DEFAULT_PROCESSOR_TIMEOUT
    return import_timeout, processor_timeout
