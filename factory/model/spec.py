"""The model of one spec: what was validated, frozen so it cannot drift."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

DEFAULT_CPU = 0.25
DEFAULT_MEMORY_MIB = 512
DEFAULT_RETRY_DELAY = timedelta(minutes=5)
# The tasks an on-prem DAG adds after the spec's own (factory/compile/onprem.py). A spec
# runs unchanged on every runtime, so no spec task may take these names on any of them.
CLEANUP_TASK = "cleanup"
CLEANUP_DONE_TASK = "cleanup_done"
VERDICT_TASK = "verdict"
# The sensor of a pipeline's `wait_for` (a task's is `wait_for_<task>`).
WAIT_TASK = "wait_for"
DEFAULT_CHECK_EVERY = timedelta(minutes=1)
RESERVED_TASK_NAMES = (CLEANUP_TASK, CLEANUP_DONE_TASK, VERDICT_TASK)


@dataclass(frozen=True)
class Wait:
    """Wait until an S3 object exists (a key, or any object under a prefix)."""

    url: str  # s3://bucket/key or s3://bucket/prefix/; the key may be a template
    timeout: timedelta
    check_every: timedelta
    on_timeout: str  # "fail" or "skip"

    @property
    def is_prefix(self) -> bool:
        return self.url.endswith("/")


def wait_task_id(task: str | None) -> str:
    """The id of the sensor a wait compiles to: the pipeline's, or one task's."""
    return WAIT_TASK if task is None else f"{WAIT_TASK}_{task}"


# What a notify target can be told of (factory/compile/notify.py).
NOTIFY_EVENTS = ("failure", "retry", "success", "recovery", "late")
NOTIFY_TARGETS = ("email", "sns", "slack")


@dataclass(frozen=True)
class Notify:
    """One target to tell about a pipeline's runs, and the events it is told of."""

    target: str  # email, sns or slack
    address: str  # the email address, topic ARN or #channel
    events: tuple[str, ...] = ("failure",)


@dataclass(frozen=True)
class FanOut:
    """Run a task once per item: of `values`, or of the run parameter `param` (a list)."""

    values: tuple[str, ...] = ()
    param: str | None = None
    at_once: int | None = None  # None: no limit of its own


def items_task_id(task: str) -> str:
    """The task that reads a fan-out's run parameter (factory/compile/fan_out.py)."""
    return f"{task}_items"


@dataclass(frozen=True)
class RunParam:
    """A value a person may set when triggering a run (factory/compile/params.py)."""

    name: str
    type: str  # string, integer, number, boolean, date or enum
    default: str | int | float | bool | tuple[str, ...]
    description: str | None = None
    values: tuple[str, ...] = ()  # for enum


@dataclass(frozen=True)
class Task:
    """One container task, with every default already applied."""

    name: str
    image: str
    command: tuple[str, ...] | None  # None: the image's own command
    env: tuple[tuple[str, str], ...]
    secrets: tuple[tuple[str, str], ...]  # (ENV_VAR, secret name); never a value
    cpu: float  # vCPUs
    memory_mib: int
    depends_on: tuple[str, ...]
    retries: int
    retry_delay: timedelta
    timeout: timedelta | None
    docker_conn_id: str | None = None  # onprem block
    network_mode: str | None = None  # onprem block
    shm_size_mib: int | None = None  # onprem block
    task_definition: str | None = None  # mwaa block: an existing task definition
    updates: tuple[str, ...] = ()  # named data this task writes (factory/compile/assets.py)
    wait_for: Wait | None = None  # an S3 object to wait for first (factory/compile/waits.py)
    # When and how it runs (factory/compile/task_args.py).
    run_if: str = "all_succeeded"
    retry_exponential: bool = False
    max_retry_delay: timedelta | None = None
    depends_on_past: bool = False
    pool: str | None = None  # None: Airflow's default pool
    priority: int = 1
    for_each: FanOut | None = None  # run once per item (factory/compile/fan_out.py)


def secret_variable_key(secret_name: str) -> str:
    """The Airflow Variable key holding a spec secret: its name without the leading '/'.

    `/prod/sales/db-password` is Variable `prod/sales/db-password`, which the SSM
    Parameter Store backend reads from `{variables_prefix}/prod/sales/db-password`
    (with `variables_prefix: ""`, the very parameter MWAA's ECS tasks read).
    """
    return secret_name.removeprefix("/")


@dataclass(frozen=True)
class Spec:
    """One pipeline, ready to compile for any runtime."""

    dag_id: str
    path: str  # the spec file, relative to the specs folder
    description: str
    owner: str
    schedule: str | None
    start_date: date
    catchup: bool
    tags: tuple[str, ...]
    max_active_runs: int
    tasks: tuple[Task, ...]  # in the file's order
    # Pipelines or named data this one runs after: all of `after`, or any of `after_any`.
    after: tuple[str, ...] = ()
    after_any: tuple[str, ...] = ()
    wait_for: Wait | None = None  # an S3 object every task waits for
    max_active_tasks: int | None = None  # None: Airflow's configuration
    timezone: str = "UTC"  # IANA name: of schedule, start_date and end_date
    params: tuple[RunParam, ...] = ()
    end_date: date | None = None
    notify: tuple[Notify, ...] = ()
    deadline: timedelta | None = None  # done within this long of the scheduled time

    @property
    def waits_for(self) -> tuple[str, ...]:
        return self.after or self.after_any

    @property
    def updates(self) -> tuple[str, ...]:
        """What a successful run announces: its own DAG id, and what its tasks write."""
        return (self.dag_id, *(name for task in self.tasks for name in task.updates))
