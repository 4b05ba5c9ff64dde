"""The few Airflow names whose home moved between 2.10 (MWAA) and 3.x."""

from __future__ import annotations

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.10 / 2.11, as MWAA still runs them
    from airflow.models.dag import DAG  # type: ignore[no-redef,assignment]

try:  # Airflow 3 moved BashOperator and EmptyOperator to the standard provider
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:
    from airflow.operators.bash import BashOperator  # type: ignore[no-redef]
    from airflow.operators.empty import EmptyOperator  # type: ignore[no-redef]

try:
    from airflow.sdk import get_parsing_context
except ImportError:
    from airflow.utils.dag_parsing_context import get_parsing_context  # type: ignore[no-redef]

__all__ = ["DAG", "BashOperator", "EmptyOperator", "get_parsing_context"]
