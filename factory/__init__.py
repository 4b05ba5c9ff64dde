"""factory: YAML container-task specs compiled into Airflow DAGs, on-prem (Docker) or on MWAA (ECS)."""

__version__ = "0.1.0"
