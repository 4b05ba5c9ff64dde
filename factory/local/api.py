"""A small client of Airflow 3's REST API (/api/v2), with a JWT from /auth/token."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

FINAL_RUN_STATES = {"success", "failed"}


class ApiError(Exception):
    def __init__(self, status: int, method: str, path: str, body: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class AirflowApi:
    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            reply = self._send("POST", "/auth/token", self._credentials, auth=False)
            self._token = reply["access_token"]
        return self._token

    def _send(self, method: str, path: str, body: Any = None, auth: bool = True, raw: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token()}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, method, path, exc.read().decode(errors="replace")) from None
        if raw:
            return text
        return json.loads(text) if text else None

    def get(self, path: str, **query: Any) -> Any:
        suffix = ("?" + urllib.parse.urlencode(query, doseq=True)) if query else ""
        return self._send("GET", "/api/v2" + path + suffix)

    def post(self, path: str, body: Any) -> Any:
        return self._send("POST", "/api/v2" + path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self._send("PATCH", "/api/v2" + path, body)

    # -- what tests and `factory up` ask ------------------------------------------------

    def dag_ids(self) -> set[str]:
        """The DAGs the API lists (Airflow lists active DAGs only)."""
        return {d["dag_id"] for d in self.get("/dags", limit=1000)["dags"]}

    def import_errors(self) -> list[dict[str, Any]]:
        return self.get("/importErrors", limit=1000)["import_errors"]

    def unpause(self, dag_id: str) -> None:
        self.patch(f"/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, logical_date: str | None, conf: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"logical_date": logical_date}
        if conf:
            body["conf"] = conf
        return self.post(f"/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in FINAL_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} {run_id} still {run['state']} after {timeout:.0f}s")
            time.sleep(1)

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        quoted = urllib.parse.quote(run_id, safe="")
        found = self.get(f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances", limit=1000)["task_instances"]
        return {t["task_id"]: t for t in found}

    def mapped_task_instances(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """The copies of a for_each task, by map index."""
        quoted = urllib.parse.quote(run_id, safe="")
        found = self.get(f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/listMapped", limit=1000)
        return sorted(found["task_instances"], key=lambda t: t["map_index"])

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        quoted = urllib.parse.quote(run_id, safe="")
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/logs/{try_number}?full_content=true"
        if map_index >= 0:
            path += f"&map_index={map_index}"
        reply = json.loads(self._send("GET", path, raw=True))
        content = reply.get("content", "")
        if isinstance(content, list):  # structured log lines: one JSON object per event
            return "\n".join(_log_line(c) for c in content)
        return str(content)


# What every structured log line has; the rest are the event's own fields, which the UI
# shows beside it (e.g. a skip's `reason`).
_LOG_HOUSEKEEPING = {"event", "timestamp", "level", "logger", "filename", "lineno", "loc", "chan"}


def _log_line(entry: Any) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    fields = " ".join(f"{k}={v}" for k, v in entry.items() if k not in _LOG_HOUSEKEEPING)
    return f"{entry.get('event', '')} {fields}".rstrip()
