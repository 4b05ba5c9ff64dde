"""Editor help for a brand-new spec, from the repository's own settings only.

The YAML language server (yaml-language-server from npm, what VS Code's YAML extension
runs) is started over stdio, offline, and driven the way VS Code drives it: the
workspace is a copy of this repository, and its settings are `.vscode/settings.json`
exactly as committed, sent as VS Code sends them. A spec file is then opened in a
folder that did not exist, with no `# yaml-language-server:` modeline, and the server
must give it errors, completion and hover from schemas/.

schemas/ is also checked with ajv (scripts/node/ajv-validate.mjs), the other common
validator, offline: every example validates, a broken defaults file does not.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from factory.load.layout import DEFAULTS_FILE, PLATFORM_FILE, Project
from factory.load.yaml import decode, parse

REPO = Path(__file__).resolve().parents[1]
NODE_TOOLS = REPO / "scripts" / "node"
SERVER = NODE_TOOLS / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
NEW_SPEC = """\
description: a spec in a brand-new folder, with no modeline
schedule: "@daily"
tasks:
  load:
    image: busybox:1
    comand: [echo, hi]
"""
NEW_SPEC += "    \n"  # where completion is asked: an empty line inside the task


def _need_node_tools() -> None:
    if shutil.which("node") and SERVER.exists():
        return
    reason = "node or scripts/node/node_modules is missing; run scripts/setup"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} -- CI is set, so this must run")
    pytest.skip(reason)


class LanguageServer:
    """A JSON-RPC client of one language server over its stdin and stdout."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.settings: dict[str, Any] = {}
        self._id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            headers = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                key, _, value = line.decode().partition(":")
                headers[key.strip().lower()] = value.strip()
            if not headers:
                return
            self.messages.put(json.loads(stream.read(int(headers["content-length"]))))

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: dict[str, Any], timeout: float = 30) -> Any:
        self._id += 1
        self._send({"id": self._id, "method": method, "params": params})
        reply = self.wait(lambda m: m.get("id") == self._id and "method" not in m, timeout, method)
        assert "error" not in reply, reply
        return reply.get("result")

    def wait(self, match: Any, timeout: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.messages.get(timeout=0.2)
            except queue.Empty:
                continue
            if message.get("method") == "workspace/configuration" and "id" in message:
                # What VS Code answers: the workspace's settings, one per section asked.
                items = message["params"]["items"]
                self._send({"id": message["id"], "result": [self._section(i.get("section", "")) for i in items]})
                continue
            if match(message):
                return message
        pytest.fail(f"the language server sent no {what} within {timeout:.0f}s")

    def _section(self, section: str) -> Any:
        prefix = section + "."
        return {k[len(prefix) :]: v for k, v in self.settings.items() if k.startswith(prefix)} or None

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workspace")
    for folder in (".vscode", "schemas", "specs"):
        shutil.copytree(REPO / folder, root / folder)
    return root


@pytest.fixture(scope="module")
def server(workspace: Path) -> Any:
    _need_node_tools()
    ls = LanguageServer(["node", str(SERVER), "--stdio"], workspace)
    # VS Code's flat settings ("yaml.schemas": ...) from the committed file, nested as
    # VS Code sends them in didChangeConfiguration ({"yaml": {"schemas": ...}}).
    flat = {k: v for k, v in json.loads((workspace / ".vscode" / "settings.json").read_text()).items() if "." in k}
    ls.settings = flat
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        section, _, name = key.partition(".")
        nested.setdefault(section, {})[name] = value
    ls.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": workspace.as_uri(),
            "workspaceFolders": [{"uri": workspace.as_uri(), "name": "factory"}],
            "capabilities": {
                "workspace": {"configuration": True, "didChangeConfiguration": {"dynamicRegistration": False}},
                "textDocument": {
                    "completion": {"completionItem": {"snippetSupport": False, "documentationFormat": ["markdown"]}},
                    "hover": {"contentFormat": ["markdown", "plaintext"]},
                    "publishDiagnostics": {},
                },
            },
        },
        timeout=60,
    )
    ls.notify("initialized", {})
    ls.notify("workspace/didChangeConfiguration", {"settings": nested})
    yield ls
    ls.close()


def _open(server: LanguageServer, path: Path, text: str) -> list[dict[str, Any]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    uri = path.as_uri()
    server.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}
    )
    published = server.wait(
        lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri,
        60,
        f"diagnostics for {path.name}",
    )
    return published["params"]["diagnostics"]


def test_a_new_spec_in_a_new_folder_gets_errors_completion_and_hover(server: LanguageServer, workspace: Path) -> None:
    spec = workspace / "specs" / "brand_new_team" / "first_job.yaml"
    diagnostics = _open(server, spec, NEW_SPEC)
    assert [(d["range"]["start"]["line"], d["message"]) for d in diagnostics] == [
        (5, "Property comand is not allowed.")
    ]
    uri = spec.as_uri()
    # Completion in the task, on the blank line after it: the task's keys, documented.
    items = server.request(
        "textDocument/completion", {"textDocument": {"uri": uri}, "position": {"line": 6, "character": 4}}
    )
    items = items["items"] if isinstance(items, dict) else items
    labels = {item["label"] for item in items}
    assert {"command", "env", "secrets", "depends_on", "memory"} <= labels, labels
    # Hover on a key with alternatives: its description once, no title per alternative.
    hover = server.request(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}}
    )
    text = hover["contents"]["value"] if isinstance(hover["contents"], dict) else str(hover["contents"])
    assert text.startswith("#### factory spec\n\nWhen the pipeline runs: a five-field cron expression"), text
    assert text.count("When the pipeline runs") == 1 and "||" not in text, text


def test_defaults_and_platform_files_get_their_own_schemas(server: LanguageServer, workspace: Path) -> None:
    defaults = _open(server, workspace / "specs" / "brand_new_team" / DEFAULTS_FILE, "owner: a\nretries: many\n")
    assert [d["range"]["start"]["line"] for d in defaults] == [1], defaults
    assert "integer" in defaults[0]["message"].lower(), defaults
    platform = _open(server, workspace / "specs" / PLATFORM_FILE, "onprem:\n  network_modes: [host]\n")
    assert [d["message"] for d in platform] == ["Property network_modes is not allowed."], platform
    # Every example as committed: no error at all.
    for committed in Project.at(REPO).spec_files():
        path = workspace / committed.relative_to(REPO)
        assert _open(server, path, path.read_text()) == [], path


# -- ajv -----------------------------------------------------------------------------


def _as_json(path: Path, tmp: Path) -> Path:
    """The document as the factory reads it (YAML 1.2 scalars: a date stays text), as JSON."""
    data = parse(str(path), decode(str(path), path.read_bytes())).data
    out = tmp / (path.name + f".{abs(hash(str(path)))}.json")
    out.write_text(json.dumps(data))
    return out


def _ajv(kind: str, documents: list[Path]) -> subprocess.CompletedProcess[str]:
    argv = ["node", str(NODE_TOOLS / "ajv-validate.mjs"), str(REPO / "schemas"), kind, *map(str, documents)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("kind", ["spec", "defaults", "platform"])
def test_ajv_validates_every_example_offline(kind: str, tmp_path: Path) -> None:
    _need_node_tools()
    specs = REPO / "specs"
    files = {
        "spec": Project.at(REPO).spec_files(),
        "defaults": sorted(specs.rglob(DEFAULTS_FILE)),
        "platform": [specs / PLATFORM_FILE],
    }[kind]
    done = _ajv(kind, [_as_json(p, tmp_path) for p in files])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" valid") == len(files)


def test_ajv_rejects_a_broken_defaults_file_through_the_cross_file_ref(tmp_path: Path) -> None:
    _need_node_tools()
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"owner": "", "retries": "many"}))
    done = _ajv("defaults", [broken])
    assert done.returncode == 1, done.stdout + done.stderr
    assert '"instancePath":"/retries"' in done.stdout and "spec.schema.json#/$defs/retries" in done.stdout
