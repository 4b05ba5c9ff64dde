"""The benchmark's workload: N pipelines written three ways that build the same DAGs.

Each pipeline is first resolved into a `Pipeline` (every default applied), then
rendered as
- a factory project: `specs/<team>/<name>.yaml`, a `_defaults.yaml` per team,
  `specs/_platform.yaml`, the repository's `schemas/` and its `dags/` loader;
- one hand-written Python file defining every DAG with `DockerOperator` x2, a
  `BashOperator` cleanup and the two `EmptyOperator`s after it, passing what the
  factory's compiler passes (factory/compile/dag.py, factory/compile/onprem.py);
- dag-factory 1.1.0 YAML: one file per DAG, a `defaults.yml` per team and at the
  root, and a loader calling `load_yaml_dags`.

Rendering from one resolved model is what keeps the three equivalent: the factory
merges `_defaults.yaml` into the spec shallowly (spec keys win), and the model
mirrors that merge.
"""

from __future__ import annotations

import json
import shutil
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TEAMS = ("sales", "finance", "marketing", "logistics", "hr", "product", "support", "risk", "growth", "ops")
TABLES = ("orders", "invoices", "customers", "shipments", "payments", "sessions", "tickets", "events")
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
# (cpu, memory) pairs Fargate offers, so the specs also lint clean for the MWAA
# block of the platform file (factory lint checks Fargate sizes).
SIZES = ((0.25, "512MiB", 512), (0.5, "1GiB", 1024), (1.0, "2GiB", 2048), (2.0, "4GiB", 4096))
TIMEOUTS = (("30m", timedelta(minutes=30)), ("1h", timedelta(hours=1)), ("2h", timedelta(hours=2)))

# What specs/_platform.yaml says for on-prem; the hand-written and dag-factory DAGs
# spell the same values out.
DOCKER_URL = "unix://var/run/docker.sock"
NETWORK_MODE = "bridge"
# The cleanup command the factory builds finds the worker's interpreter when it runs
# ("$FACTORY_PYTHON"); the other two hard-code one.
CLEANUP_PYTHON = "/usr/local/bin/python3"
# The cleanup's own bounds in factory/compile/onprem.py.
CLEANUP_RETRY_DELAY = timedelta(seconds=30)
CLEANUP_TIMEOUT = timedelta(minutes=10)


@dataclass(frozen=True)
class Task:
    name: str
    image: str
    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    secrets: tuple[tuple[str, str], ...]  # (ENV_VAR, secret name)
    cpu: float
    memory: str  # as the spec writes it
    memory_mib: int
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class Pipeline:
    """One DAG with every default applied: what all three renderings must agree on."""

    team: str
    name: str
    description: str
    owner: str
    schedule: str
    start_date: date
    tags: tuple[str, ...]
    retries: int
    retry_delay_text: str
    retry_delay: timedelta
    timeout_text: str
    timeout: timedelta
    tasks: tuple[Task, ...]
    spec_overrides_retries: bool  # whether the spec file (not its defaults) sets retries

    @property
    def dag_id(self) -> str:
        return f"{self.team}.{self.name}"


def team_defaults(team: str) -> dict[str, object]:
    """What specs/<team>/_defaults.yaml holds."""
    index = TEAMS.index(team)
    return {
        "owner": f"{team}-analytics",
        "start_date": date(2024, 1 + index, 1),
        "tags": (team,),
        "retries": 2,
        "retry_delay": ("10m", timedelta(minutes=10)),
    }


def pipelines(n: int) -> list[Pipeline]:
    """N varied but deterministic pipelines spread over the teams."""
    result = []
    for i in range(n):
        team = TEAMS[i % len(TEAMS)]
        table = TABLES[(i // len(TEAMS)) % len(TABLES)]
        name = f"{table}_rollup_{i:05d}"
        defaults = team_defaults(team)
        cpu_a, mem_a, mib_a = SIZES[i % len(SIZES)]
        cpu_b, mem_b, mib_b = SIZES[(i + 1) % len(SIZES)]
        timeout_text, timeout = TIMEOUTS[i % len(TIMEOUTS)]
        overrides_retries = i % 3 == 0
        retry_delay_text, retry_delay = defaults["retry_delay"]  # type: ignore[misc]
        extract = Task(
            name="extract",
            image=f"{REGISTRY}/{team}/{table}-extract:1.{i % 7}.{i % 13}",
            command=("python", "extract.py", "--date", "{{ ds }}", "--table", table),
            env=(("STAGE", "prod"), ("TABLE", table)),
            secrets=(("DB_PASSWORD", f"/prod/{team}/db-password"),),
            cpu=cpu_a,
            memory=mem_a,
            memory_mib=mib_a,
            depends_on=(),
        )
        load = Task(
            name="load",
            image=f"{REGISTRY}/{team}/warehouse-load:2.{i % 5}.0",
            command=("python", "load.py", "--date", "{{ ds }}", "--target", f"{team}_{table}"),
            env=(("STAGE", "prod"), ("BATCH_SIZE", str(1000 + i % 9000))),
            secrets=(("WAREHOUSE_TOKEN", f"/prod/{team}/warehouse-token"),),
            cpu=cpu_b,
            memory=mem_b,
            memory_mib=mib_b,
            depends_on=("extract",),
        )
        result.append(
            Pipeline(
                team=team,
                name=name,
                description=f"Daily {table} rollup #{i} for the {team} dashboards",
                owner=str(defaults["owner"]),
                schedule=f"{i % 60} {(i // 60) % 24} * * *",
                start_date=defaults["start_date"],  # type: ignore[arg-type]
                # A spec's own `tags` replaces its defaults' (a shallow merge).
                tags=(team, table, "nightly"),
                retries=1 if overrides_retries else int(defaults["retries"]),  # type: ignore[call-overload]
                retry_delay_text=retry_delay_text,
                retry_delay=retry_delay,
                timeout_text=timeout_text,
                timeout=timeout,
                tasks=(extract, load),
                spec_overrides_retries=overrides_retries,
            )
        )
    return result


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value)


def _flow_map(pairs: tuple[tuple[str, str], ...]) -> str:
    return "{" + ", ".join(f"{k}: {_q(v)}" for k, v in pairs) + "}"


def _flow_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


def _duration_python(delta: timedelta) -> str:
    return f"timedelta(seconds={int(delta.total_seconds())})"


# ---------------------------------------------------------------------------
# factory project


def write_factory_project(root: Path, items: list[Pipeline]) -> Path:
    """A factory project under root (specs/, schemas/, dags/); returns its dags folder."""
    specs = root / "specs"
    specs.mkdir(parents=True)
    shutil.copytree(REPO / "schemas", root / "schemas")
    dags = root / "dags"
    dags.mkdir()
    for loader in sorted((REPO / "dags").glob("factory_dags_*_of_*.py")):  # the loader files
        shutil.copy2(loader, dags / loader.name)
    if (REPO / "dags" / ".airflowignore").is_file():
        shutil.copy2(REPO / "dags" / ".airflowignore", dags / ".airflowignore")
    (specs / "_platform.yaml").write_text(
        "# yaml-language-server: $schema=../schemas/platform.schema.json\n"
        "onprem:\n"
        f"  docker_url: {DOCKER_URL}\n"
        f"  network_mode: {NETWORK_MODE}\n"
        "  aws_conn_id: aws_default\n"
        "mwaa:\n"
        "  region: eu-west-1\n"
        '  cluster: "{{ var.value.ecs_cluster }}"\n'
        '  subnets: "{{ var.value.ecs_subnets }}"\n'
        '  security_groups: "{{ var.value.ecs_security_groups }}"\n'
        "  launch_type: FARGATE\n"
        '  execution_role_arn: "{{ var.value.ecs_execution_role_arn }}"\n'
        "  log_group: /factory/tasks\n"
        "  log_stream_prefix: factory\n"
    )
    for team in sorted({p.team for p in items}):
        d = team_defaults(team)
        (specs / team).mkdir()
        (specs / team / "_defaults.yaml").write_text(
            "# yaml-language-server: $schema=../../schemas/defaults.schema.json\n"
            f"owner: {d['owner']}\n"
            f"start_date: {d['start_date']}\n"
            f"tags: {_flow_list(d['tags'])}\n"  # type: ignore[arg-type]
            f"retries: {d['retries']}\n"
            f"retry_delay: {d['retry_delay'][0]}\n"  # type: ignore[index]
        )
    for p in items:
        (specs / p.team / f"{p.name}.yaml").write_text(factory_spec(p))
    return dags


def factory_spec(p: Pipeline) -> str:
    lines = [
        "# yaml-language-server: $schema=../../schemas/spec.schema.json",
        f"description: {_q(p.description)}",
        f"schedule: {_q(p.schedule)}",
        f"tags: {_flow_list(p.tags)}",
        f"timeout: {p.timeout_text}",
    ]
    if p.spec_overrides_retries:
        lines.append(f"retries: {p.retries}")
    lines.append("tasks:")
    for t in p.tasks:
        lines += [
            f"  {t.name}:",
            f"    image: {t.image}",
            f"    command: {_flow_list(t.command)}",
            f"    env: {_flow_map(t.env)}",
            f"    secrets: {_flow_map(t.secrets)}",
            f"    cpu: {t.cpu:g}",
            f"    memory: {t.memory}",
        ]
        if t.depends_on:
            lines.append(f"    depends_on: {_flow_list(t.depends_on)}")
    return "\n".join(lines) + "\n"


def write_single_spec_project(root: Path, full_project: Path, dag_id: str) -> Path:
    """A factory project holding one spec of `full_project` (with its defaults and platform)."""
    team, name = dag_id.split(".", 1)
    specs = root / "specs"
    (specs / team).mkdir(parents=True)
    shutil.copytree(full_project / "schemas", root / "schemas")
    shutil.copytree(full_project / "dags", root / "dags")
    shutil.copy2(full_project / "specs" / "_platform.yaml", specs / "_platform.yaml")
    shutil.copy2(full_project / "specs" / team / "_defaults.yaml", specs / team / "_defaults.yaml")
    shutil.copy2(full_project / "specs" / team / f"{name}.yaml", specs / team / f"{name}.yaml")
    return root / "dags"


# ---------------------------------------------------------------------------
# hand-written Python

_HANDWRITTEN_HEADER = '''"""Hand-written Airflow DAGs: the same pipelines as the factory specs, one block each."""

from datetime import UTC, datetime, timedelta

from airflow.providers.docker.operators.docker import DockerOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

'''


def _secret_template(secret_name: str) -> str:
    # A plain DockerOperator has no secrets store lookup; a hand-written DAG pulls the
    # value from a Variable (backed by the secrets backend) when the task renders.
    return "{{ var.value['" + secret_name.strip("/").replace("/", "_") + "'] }}"


def handwritten_dag(p: Pipeline) -> str:
    tags = [*p.tags, "runtime:onprem"]
    doc = f"Built by factory from `specs/{p.team}/{p.name}.yaml` for the onprem runtime."
    out = [
        "with DAG(",
        f"    dag_id={p.dag_id!r},",
        f"    description={p.description!r},",
        f"    schedule={p.schedule!r},",
        f"    start_date=datetime({p.start_date.year}, {p.start_date.month}, {p.start_date.day}, tzinfo=UTC),",
        "    catchup=False,",
        "    max_active_runs=1,",
        f"    tags={tags!r},",
        f"    default_args={{'owner': {p.owner!r}}},",
        f"    doc_md={doc!r},",
        "):",
    ]
    for t in p.tasks:
        env = dict(t.env) | {var: _secret_template(name) for var, name in t.secrets}
        labels = {"dev.factory.managed": "true", "dev.factory.dag_id": p.dag_id, "dev.factory.task_id": t.name}
        labels["dev.factory.run_id"] = ""
        out += [
            f"    {t.name} = DockerOperator(",
            f"        task_id={t.name!r},",
            f"        image={t.image!r},",
            f"        command={list(t.command)!r},",
            f"        environment={env!r},",
            f"        cpus={t.cpu!r},",
            f"        mem_limit='{t.memory_mib}m',",
            f"        docker_url={DOCKER_URL!r},",
            f"        network_mode={NETWORK_MODE!r},",
            "        auto_remove='never',",
            "        mount_tmp_dir=False,",
            f"        labels={labels!r},",
            f"        retries={p.retries},",
            f"        retry_delay={_duration_python(p.retry_delay)},",
            f"        execution_timeout={_duration_python(p.timeout)},",
            "    )",
        ]
    cleanup_cmd = (
        f'{CLEANUP_PYTHON} -m factory.cleanup --docker-url {DOCKER_URL} --dag-id {p.dag_id} --run-id "$FACTORY_RUN_ID"'
    )
    names = ", ".join(t.name for t in p.tasks)
    out += [
        "    cleanup = BashOperator(",
        "        task_id='cleanup',",
        f"        bash_command={cleanup_cmd!r},",
        "        env={'FACTORY_RUN_ID': '{{ run_id }}'},",
        "        append_env=True,",
        "        do_xcom_push=False,",
        "        trigger_rule='all_done',",
        "        retries=1,",
        f"        retry_delay={_duration_python(CLEANUP_RETRY_DELAY)},",
        f"        execution_timeout={_duration_python(CLEANUP_TIMEOUT)},",
        "    )",
        f"    [{names}] >> cleanup",
        "    cleanup >> EmptyOperator(task_id='cleanup_done', trigger_rule='all_done')",
        f"    [{names}] >> EmptyOperator(task_id='verdict')",
    ]
    for t in p.tasks:
        for upstream in t.depends_on:
            out.append(f"    {upstream} >> {t.name}")
    return "\n".join(out) + "\n"


def write_handwritten(root: Path, items: list[Pipeline], per_file: int = 0) -> Path:
    """One Python file defining every DAG; returns its dags folder. With `per_file`, as
    many files as hold at most about that many DAGs each, a DAG's file chosen by the
    CRC-32 of its DAG id: what a platform team writing them by hand at scale must do
    (one file would outlive Airflow's timeouts, and Airflow 3 stores a DAG file's whole
    source once per DAG it holds, in one INSERT: 625 DAGs in a 1.9 MB file made a
    PostgreSQL message over its 1 GB limit)."""
    dags = root / "dags"
    dags.mkdir(parents=True)
    shards = -(-len(items) // per_file) if per_file else 0
    if not shards:
        body = "\n\n".join(handwritten_dag(p) for p in items)
        (dags / "handwritten_dags.py").write_text(_HANDWRITTEN_HEADER + body)
        return dags
    groups: list[list[Pipeline]] = [[] for _ in range(shards)]
    for p in items:
        groups[zlib.crc32(p.dag_id.encode()) % shards].append(p)
    for i, group in enumerate(groups, 1):
        body = "\n\n".join(handwritten_dag(p) for p in group)
        (dags / f"handwritten_dags_{i}_of_{shards}.py").write_text(_HANDWRITTEN_HEADER + body)
    return dags


# ---------------------------------------------------------------------------
# dag-factory 1.1.0

_DAGFACTORY_LOADER = '''"""dag-factory loader: one DAG per YAML file under ../configs (Airflow parses this file)."""

from pathlib import Path

from dagfactory import load_yaml_dags

CONFIGS = str(Path(__file__).resolve().parents[1] / "configs")

# DAG files end in .yaml; the hierarchical defaults files are named defaults.yml so
# the folder scan does not take them for DAG configs.
load_yaml_dags(globals_dict=globals(), dags_folder=CONFIGS, defaults_config_path=CONFIGS, suffix=[".yaml"])
'''


def _timedelta_yaml(delta: timedelta) -> str:
    # dag-factory 1.x builds Python objects from `__type__` mappings.
    return f"{{__type__: datetime.timedelta, seconds: {int(delta.total_seconds())}}}"


def dagfactory_dag(p: Pipeline) -> str:
    tags = [*p.tags, "runtime:onprem"]
    doc = f"Built by factory from `specs/{p.team}/{p.name}.yaml` for the onprem runtime."
    lines = [
        f"{p.dag_id}:",
        f"  description: {_q(p.description)}",
        f"  schedule: {_q(p.schedule)}",
        f"  tags: {_flow_list(tuple(tags))}",
        f"  doc_md: {_q(doc)}",
    ]
    if p.spec_overrides_retries:
        lines += ["  default_args:", f"    retries: {p.retries}"]
    lines.append("  tasks:")
    for t in p.tasks:
        env = dict(t.env) | {var: _secret_template(name) for var, name in t.secrets}
        labels = (
            ("dev.factory.managed", "true"),
            ("dev.factory.dag_id", p.dag_id),
            ("dev.factory.task_id", t.name),
            ("dev.factory.run_id", ""),
        )
        lines += [
            f"    {t.name}:",
            "      operator: airflow.providers.docker.operators.docker.DockerOperator",
            f"      image: {t.image}",
            f"      command: {_flow_list(t.command)}",
            "      environment: {" + ", ".join(f"{k}: {_q(v)}" for k, v in env.items()) + "}",
            f"      cpus: {t.cpu!r}",
            f"      mem_limit: {t.memory_mib}m",
            f"      docker_url: {_q(DOCKER_URL)}",
            f"      network_mode: {NETWORK_MODE}",
            "      auto_remove: never",
            "      mount_tmp_dir: false",
            "      labels: {" + ", ".join(f"{_q(k)}: {_q(v)}" for k, v in labels) + "}",
            f"      execution_timeout: {_timedelta_yaml(p.timeout)}",
        ]
        if t.depends_on:
            lines.append(f"      dependencies: {_flow_list(t.depends_on)}")
    cleanup_cmd = (
        f'{CLEANUP_PYTHON} -m factory.cleanup --docker-url {DOCKER_URL} --dag-id {p.dag_id} --run-id "$FACTORY_RUN_ID"'
    )
    lines += [
        "    cleanup:",
        "      operator: airflow.providers.standard.operators.bash.BashOperator",
        f"      bash_command: {_q(cleanup_cmd)}",
        "      env: {FACTORY_RUN_ID: " + _q("{{ run_id }}") + "}",
        "      append_env: true",
        "      do_xcom_push: false",
        "      retries: 1",
        f"      retry_delay: {_timedelta_yaml(CLEANUP_RETRY_DELAY)}",
        f"      execution_timeout: {_timedelta_yaml(CLEANUP_TIMEOUT)}",
        "      trigger_rule: all_done",
        f"      dependencies: {_flow_list(tuple(t.name for t in p.tasks))}",
        "    cleanup_done:",
        "      operator: airflow.providers.standard.operators.empty.EmptyOperator",
        "      trigger_rule: all_done",
        # Airflow's defaults, as the factory's empty tasks have: not the DAG's default_args.
        "      retries: 0",
        f"      retry_delay: {_timedelta_yaml(timedelta(seconds=300))}",
        "      dependencies: [cleanup]",
        "    verdict:",
        "      operator: airflow.providers.standard.operators.empty.EmptyOperator",
        "      retries: 0",
        f"      retry_delay: {_timedelta_yaml(timedelta(seconds=300))}",
        f"      dependencies: {_flow_list(tuple(t.name for t in p.tasks))}",
    ]
    return "\n".join(lines) + "\n"


def write_dagfactory(root: Path, items: list[Pipeline]) -> Path:
    """dag-factory configs under root/configs and its loader in root/dags; returns the dags folder."""
    configs = root / "configs"
    configs.mkdir(parents=True)
    (configs / "defaults.yml").write_text("catchup: false\nmax_active_runs: 1\n")
    for team in sorted({p.team for p in items}):
        d = team_defaults(team)
        (configs / team).mkdir()
        (configs / team / "defaults.yml").write_text(
            "default_args:\n"
            f"  owner: {d['owner']}\n"
            f"  start_date: {d['start_date']}\n"
            f"  retries: {d['retries']}\n"
            f"  retry_delay: {_timedelta_yaml(d['retry_delay'][1])}\n"  # type: ignore[index]
        )
    for p in items:
        (configs / p.team / f"{p.name}.yaml").write_text(dagfactory_dag(p))
    dags = root / "dags"
    dags.mkdir()
    (dags / "dagfactory_dags.py").write_text(_DAGFACTORY_LOADER)
    return dags
