"""Labels the factory puts on what it starts, so cleanup can find exactly that."""

from __future__ import annotations

MANAGED = "dev.factory.managed"
DAG_ID = "dev.factory.dag_id"
TASK_ID = "dev.factory.task_id"
RUN_ID = "dev.factory.run_id"
