"""DockerOperator with what the on-prem runtime needs at run time.

The provider's DockerOperator gives this operator its arguments, templating, Docker
hook and registry login (`docker_conn_id`). The container itself is run here, because
the factory needs what the provider does not do: a hard CPU limit (the provider's
`cpus` is only a relative weight), an out-of-memory verdict, the last lines of output
in the error, the container stopped when the task times out or is killed, the run id
label, secrets resolved at run time, and fresh ECR credentials before each pull.

Imported only on the on-prem runtime: it needs the docker provider. The amazon
provider is imported only when a task's image is on ECR.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowTaskTimeout,
    Variable,
    mask_secret,
    redact,
)
from airflow.providers.docker.exceptions import DockerContainerFailedException, DockerContainerFailedSkipException
from airflow.providers.docker.operators.docker import DockerOperator
from docker.errors import APIError, NotFound
from docker.types import LogConfig, Mount

from factory.compile import labels
from factory.model.spec import secret_variable_key
from factory.operators.fan_out import SpecTemplating
from factory.operators.notify import keeping_the_error

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from docker import APIClient

# ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/repository[:tag]; FIPS endpoints say "ecr-fips".
ECR_IMAGE = re.compile(
    r"^(?P<host>(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?)/"
)
# What registries answer when a pull lacks (valid) credentials.
_AUTH_FAILURE = re.compile(r"unauthori[sz]ed|denied|authentication required|no basic auth credentials|forbidden", re.I)


class FactoryDockerOperator(SpecTemplating, DockerOperator):
    """Runs one spec task as a container, labelled so the cleanup task can find it."""

    # Commands are argument lists, never template files: a command like
    # `run.sh` must run as written instead of being looked up as a Jinja file.
    template_ext = ()
    # How much of the container's output the error of a failed task repeats.
    tail_lines = 20
    # On a timeout or kill the container gets SIGTERM, then SIGKILL after this long
    # (what `docker stop` does), so well-behaved programs can exit cleanly.
    stop_grace_seconds = 10

    def __init__(
        self,
        *,
        secret_env: dict[str, str] | None = None,
        cpu_limit: float | None = None,
        aws_conn_id: str | None = "aws_default",
        factory_labels: dict[str, str] | None = None,
        fan_out_item: str | None = None,
        **kwargs: Any,
    ) -> None:
        for unsupported in ("mount_tmp_dir", "retrieve_output"):
            # Host temp dirs do not exist on remote engines and output files are not
            # how specs pass data; refuse rather than silently ignore them.
            if kwargs.get(unsupported):
                raise ValueError(f"{type(self).__name__} does not support {unsupported}=True")
        kwargs["mount_tmp_dir"] = False
        kwargs.setdefault("auto_remove", "never")  # the cleanup task removes containers
        # Output goes to the task log. Nothing in a spec reads XComs, and output may
        # hold data that does not belong in the metadata DB.
        kwargs.setdefault("do_xcom_push", False)
        super().__init__(labels=dict(factory_labels or {}), **kwargs)
        self.secret_env = dict(secret_env or {})
        self.cpu_limit = cpu_limit
        self.aws_conn_id = aws_conn_id
        self.fan_out_item = fan_out_item  # this copy's item of a for_each (factory/operators/fan_out.py)
        self._stopped: dict[str, str] = {}  # container id -> why this operator stopped it

    # -- the task ---------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        # The run id is only known now; labels are not templated, so add it here.
        run_labels = {**(self.labels or {}), labels.RUN_ID: str(context["run_id"])}
        secrets = self._resolve_secrets()
        client = self._connect()
        self._ensure_image(client)
        with keeping_the_error(self):
            return self._run_container(client, run_labels, secrets)

    def on_kill(self) -> None:
        # Airflow calls this on a timeout and when the task is killed: the container
        # must not outlive its task.
        if self.container is not None and self.hook.client_created:
            self._stop_container(self.cli, self.container["Id"], "the task was stopped")

    # -- secrets ------------------------------------------------------------------

    def _resolve_secrets(self) -> dict[str, str]:
        """Secret values by environment variable, read now through Airflow's secrets backends.

        They go to the container's environment only: never into a templated field
        (rendered fields are stored and shown in the UI), and masked in every log line.
        """
        values: dict[str, str] = {}
        for env_var, name in self.secret_env.items():
            key = secret_variable_key(name)
            value = Variable.get(key, None)
            if value is None:
                raise AirflowException(
                    f"Secret {name!r} (for ${env_var}) was not found: no Airflow Variable {key!r} in the "
                    "secrets backends of this worker (environment AIRFLOW_VAR_*, the configured secrets "
                    "backend such as SSM Parameter Store, or the metadata DB)."
                )
            # Variable.get masks only values whose key looks sensitive; a spec secret
            # always is, whatever its name.
            mask_secret(value)
            values[env_var] = value
        if values:
            self.log.info("Resolved %d secret(s): %s", len(values), ", ".join(sorted(values)))
        return values

    # -- engine and images --------------------------------------------------------------

    def _connect(self) -> APIClient:
        """The engine's API client; the hook logs in to docker_conn_id's registry as it connects."""
        try:
            return self.cli
        except APIError as exc:
            if self.docker_conn_id and "/auth" in str(getattr(exc.response, "url", "")):
                raise AirflowException(
                    f"Could not log in to the registry of Airflow connection {self.docker_conn_id!r}: "
                    f"{_reason(exc)}. Check the connection's host, login and password."
                ) from exc
            raise AirflowException(f"The Docker engine at {self.docker_url} refused: {_reason(exc)}") from exc
        except AirflowException as exc:
            if "Failed to establish connection" in str(exc):
                raise AirflowException(
                    f"Cannot reach the Docker engine at {self.docker_url}: is dockerd running on this worker?"
                ) from exc
            raise

    def _ensure_image(self, client: APIClient) -> None:
        """Pull the image unless the engine has it (or force_pull), logging in to ECR first."""
        if not self.force_pull:
            try:
                client.inspect_image(self.image)
                return
            except NotFound:
                pass
        ecr = ECR_IMAGE.match(self.image)
        auth = self._ecr_credentials(ecr) if ecr else None
        self.log.info("Pulling image %s", self.image)
        try:
            last_status: dict[str, str] = {}
            for event in client.pull(self.image, stream=True, decode=True, auth_config=auth):
                if "error" in event:
                    raise AirflowException(self._pull_failure(str(event["error"]), ecr))
                status, layer = event.get("status"), event.get("id")
                # One line per layer and state, not one per progress tick.
                if status and last_status.get(layer or "") != status:
                    last_status[layer or ""] = status
                    self.log.info("%s%s", f"{layer}: " if layer else "", status)
        except APIError as exc:
            raise AirflowException(self._pull_failure(_reason(exc), ecr)) from exc

    def _ecr_credentials(self, ecr: re.Match[str]) -> dict[str, str]:
        """A fresh ECR token for the image's registry, fetched right before the pull.

        Tokens last 12 hours; getting one per pull replaces the usual cron job that
        rewrites a Docker connection every 30 minutes.
        """
        host, account, region = ecr["host"], ecr["account"], ecr["region"]
        try:
            from airflow.providers.amazon.aws.hooks.ecr import EcrHook
        except ImportError as exc:
            raise AirflowException(
                f"{self.image} is an ECR image; logging in to ECR needs the amazon provider on this worker "
                "(pip install apache-airflow-providers-amazon)."
            ) from exc
        try:
            hook = EcrHook(aws_conn_id=self.aws_conn_id, region_name=region)
            credentials = hook.get_temporary_credentials(registry_ids=[account])
        except Exception as exc:
            raise AirflowException(
                f"Could not get an ECR token for {host} through AWS connection {self.aws_conn_id!r}: {exc}"
            ) from exc
        if not credentials:
            raise AirflowException(f"ECR returned no token for {host} (AWS connection {self.aws_conn_id!r})")
        token = credentials[0]
        mask_secret(token.password)
        self.log.info("Got an ECR token for %s (expires %s)", host, token.expires_at)
        return {"username": token.username, "password": token.password, "serveraddress": host}

    def _pull_failure(self, reason: str, ecr: re.Match[str] | None) -> str:
        message = f"Could not pull image {self.image}: {reason}"
        if _AUTH_FAILURE.search(reason):
            if ecr:
                message += (
                    f". The ECR token came from AWS connection {self.aws_conn_id!r}: check that its identity "
                    "may pull from this repository (ecr:BatchGetImage, ecr:GetDownloadUrlForLayer)."
                )
            elif self.docker_conn_id:
                message += f". Check the login of Airflow connection {self.docker_conn_id!r}."
            else:
                message += (
                    ". If the registry needs a login, name an Airflow Docker connection in the spec "
                    "(onprem: {docker_conn_id: ...}) or in the platform file."
                )
        return message

    # -- the container ----------------------------------------------------------------

    def _run_container(self, client: APIClient, run_labels: dict[str, str], secrets: dict[str, str]) -> Any:
        log_config = {}
        if self.log_opts_max_size is not None:
            log_config["max-size"] = self.log_opts_max_size
        if self.log_opts_max_file is not None:
            log_config["max-file"] = self.log_opts_max_file
        env_file_vars = self.unpack_environment_variables(self.env_file) if self.env_file else {}
        # Rendering turns Mount objects into plain dicts with API-cased keys, which
        # the engine accepts as they are; rebuild only the user's snake_case dicts.
        mounts = [m if isinstance(m, Mount) or "Target" in m else Mount(**m) for m in self.mounts]
        host_config = client.create_host_config(
            auto_remove=False,
            # A real ceiling (CFS quota), unlike the provider's relative cpu_shares.
            nano_cpus=self._nano_cpus(client),
            mem_limit=self.mem_limit,
            # Swap counted in the limit: without it a container may use swap past
            # mem_limit instead of being stopped at it.
            memswap_limit=self.mem_limit,
            shm_size=self.shm_size,
            network_mode=self.network_mode,
            mounts=mounts,
            dns=self.dns,
            dns_search=self.dns_search,
            port_bindings=self.port_bindings,
            cap_add=self.cap_add,
            extra_hosts=self.extra_hosts,
            privileged=self.privileged,
            device_requests=self.device_requests,
            log_config=LogConfig(config=log_config),
            ipc_mode=self.ipc_mode,
            ulimits=self.ulimits,
        )
        self.container = client.create_container(
            image=self.image,
            command=self.format_command(self.command),
            name=self.container_name,
            environment={**env_file_vars, **self.environment, **self._private_environment, **secrets},
            host_config=host_config,
            labels=run_labels,
            ports=list(self.port_bindings),
            user=self.user,
            entrypoint=self.format_command(self.entrypoint),
            working_dir=self.working_dir,
            tty=self.tty,
            hostname=self.hostname,
        )
        container_id = self.container["Id"]
        # Attach before starting, so not a line of output is missed.
        output = client.attach(container_id, stdout=True, stderr=True, stream=True)
        tail: deque[str] = deque(maxlen=self.tail_lines)
        lines: list[str] = []
        try:
            client.start(container_id)
            self.log.info("Started container %s from %s", container_id[:12], self.image)
            for raw in _lines(output):
                # Masked here rather than left to the log pipeline: not every logging
                # set-up masks (dag.test()'s console does not), and the same lines go
                # into the error message and XCom.
                line = str(redact(raw))
                self.log.info("%s", line)
                tail.append(line)
                if self.do_xcom_push and self.xcom_all:
                    lines.append(line)
            exit_code = client.wait(container_id)["StatusCode"]
        except AirflowTaskTimeout:
            self._stop_container(client, container_id, f"the task's timeout ({self.execution_timeout}) ran out")
            raise
        except BaseException:
            # Ctrl-C, a kill, or a lost engine connection: the container must not run on.
            self._stop_container(client, container_id, "the task ended before its container")
            raise
        try:
            return self._verdict(client, container_id, exit_code, list(tail), lines)
        finally:
            if self.auto_remove == "force" or (self.auto_remove == "success" and exit_code == 0):
                client.remove_container(container_id, v=True, force=True)

    def _verdict(self, client: APIClient, container_id: str, exit_code: int, tail: list[str], lines: list[str]) -> Any:
        """Success, skip, or a failure whose message says why and shows the last lines."""
        info = client.inspect_container(container_id)
        oom_killed = bool(info["State"].get("OOMKilled"))
        limit = _mib(info["HostConfig"].get("Memory"))
        if exit_code == 0:
            if oom_killed:
                self.log.warning(
                    "A process in the container was killed for using more than the memory limit (%s); "
                    "the container still exited 0.",
                    limit,
                )
            if not self.do_xcom_push:
                return None
            return lines if self.xcom_all else (tail[-1] if tail else None)
        shown = tail
        if exit_code in self.skip_on_exit_code:
            raise DockerContainerFailedSkipException(
                f"Container {container_id[:12]} exited with code {exit_code}: skipping the task.", logs=shown
            )
        if oom_killed:
            headline = (
                f"Container {container_id[:12]} of task {self.task_id!r} was killed (exit code {exit_code}) "
                f"because it used more than its memory limit of {limit} (OOMKilled). "
                "Give the task more memory (`memory:` in the spec) or make it use less."
            )
        elif container_id in self._stopped:
            headline = (
                f"Container {container_id[:12]} of task {self.task_id!r} was stopped (exit code {exit_code}): "
                f"{self._stopped[container_id]}."
            )
        else:
            headline = f"Container {container_id[:12]} of task {self.task_id!r} exited with code {exit_code}."
        if shown:
            body = f"Last {len(shown)} line(s) of its output:\n" + "\n".join(f"    {line}" for line in shown)
        else:
            body = "It printed nothing."
        raise DockerContainerFailedException(f"{headline}\n{body}", logs=shown)

    def _nano_cpus(self, client: APIClient) -> int | None:
        if self.cpu_limit is None:
            return None
        cpus = self.cpu_limit
        available = client.info().get("NCPU")
        if available and cpus > available:
            # Docker refuses a limit above the host's CPUs; a spec sized for a big
            # worker should still run on a laptop.
            self.log.warning(
                "The spec asks for %s vCPUs; this Docker engine has %s: limiting the container to %s.",
                cpus,
                available,
                available,
            )
            cpus = available
        return round(cpus * 1e9)

    def _stop_container(self, client: APIClient, container_id: str, why: str) -> None:
        if container_id in self._stopped:
            return
        self._stopped[container_id] = why
        self.log.warning(
            "Stopping container %s: %s (SIGTERM, then SIGKILL after %ss)",
            container_id[:12],
            why,
            self.stop_grace_seconds,
        )
        try:
            client.stop(container_id, timeout=self.stop_grace_seconds)
        except NotFound:
            pass
        except APIError as exc:
            self.log.error("Could not stop container %s: %s", container_id[:12], _reason(exc))


def _lines(chunks: Iterable[bytes | str]) -> Iterator[str]:
    """Whole lines from a stream of output chunks that may split lines anywhere."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk.decode("utf-8", errors="replace") if isinstance(chunk, bytes) else chunk
        *complete, buffer = buffer.split("\n")
        for line in complete:
            yield line.rstrip("\r")
    if buffer:
        yield buffer.rstrip("\r")


def _reason(exc: APIError) -> str:
    """The engine's own words, without the HTTP wrapping around them."""
    return str(exc.explanation or exc).strip()


def _mib(memory_bytes: int | None) -> str:
    return f"{memory_bytes / 2**20:g} MiB" if memory_bytes else "none"
