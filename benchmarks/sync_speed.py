"""`factory sync` against `aws s3 sync` on a real S3 server (SeaweedFS), requests counted.

    python benchmarks/sync_speed.py           # a project of 1,000 specs, 3 runs of each case
    python benchmarks/sync_speed.py --quick   # 50 specs, 1 run: the smoke run the suite runs

Both tools upload the same tree (the files `factory sync` ships, written out as a folder
for `aws s3 sync`) to the same bucket, each under its own prefix, through a recording
proxy in front of SeaweedFS that counts every request by kind (LIST, GET, HEAD, PUT,
DELETE) and forwards it unchanged. Cases, each a fresh process: the first sync to an
empty prefix, a no-op sync, and a sync after one spec changed. awscli comes from its own
venv (.cache/awscli-venv, benchmarks/awscli.lock): a peer we measure, not a dependency.
`factory sync` lints the specs before it uploads; that is in its time.

Results go to benchmarks/results/sync-speed.{json,md}.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import generate
import parse

sys.path.insert(0, str(parse.REPO / "tests"))  # the suite's SeaweedFS harness, started the same way
import seaweedfs

from factory.deploy.bundle import build_bundle

HERE = Path(__file__).resolve().parent
AWSCLI_VENV = parse.REPO / ".cache" / "awscli-venv"
BUCKET = "sync-bench"


class Recorder:
    """A forwarding HTTP proxy that counts requests by kind; one connection upstream per thread."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.local = threading.local()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                recorder.count(self.command, self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("expect",)}
                response = recorder.send(self.command, self.path, body, headers)
                data = response.read()
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, method: str, path: str) -> None:
        query = parse_qs(urlsplit(path).query, keep_blank_values=True)
        kind = "LIST" if method == "GET" and ("list-type" in query or "prefix" in query) else method
        with self.lock:
            self.counts[kind] += 1

    def send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> http.client.HTTPResponse:
        for attempt in (1, 2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port)
            try:
                conn.request(method, path, body=body, headers=headers)
                return conn.getresponse()
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def take(self) -> dict[str, int]:
        with self.lock:
            found = dict(self.counts)
            self.counts.clear()
        return found


def uv() -> list[str]:
    """uv as scripts/setup installs it: a module of the system's python3 (the project's
    venv, first on PATH while the tests run, has none), or on PATH."""
    if found := shutil.which("uv"):
        return [found]
    venv_bin = str(Path(sys.executable).parent)
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        python = Path(folder) / "python3"
        if folder != venv_bin and python.is_file():
            probe = subprocess.run([str(python), "-m", "uv", "--version"], capture_output=True, check=False)
            if probe.returncode == 0:
                return [str(python), "-m", "uv"]
    raise parse.BenchmarkError("uv not found: run scripts/setup")


def awscli() -> Path:
    """The AWS CLI from its own locked venv (made on first use)."""
    aws = AWSCLI_VENV / "bin" / "aws"
    if not aws.exists():
        subprocess.run([*uv(), "venv", "-q", "--python", "3.11", str(AWSCLI_VENV)], check=True)
        cmd = [*uv(), "pip", "install", "-q", "--python", str(AWSCLI_VENV / "bin" / "python")]
        subprocess.run([*cmd, "-r", str(HERE / "awscli.lock")], check=True)
    return aws


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    t = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise parse.BenchmarkError(
            f"{' '.join(argv[:4])}... exit {done.returncode}:\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
        )
    return wall


def mirror(project: Path, tree: Path) -> int:
    """The files factory sync ships, as a folder for `aws s3 sync`; how many. A file is
    written only when its content changed, as a checkout would: `aws s3 sync` compares
    sizes and modification times."""
    files = build_bundle(project).files
    for f in files:
        path = tree / f.key
        if path.is_file() and path.read_bytes() == f.data:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.data)
    return len(files)


def measure(n: int, runs: int, work: Path, python: Path) -> dict[str, Any]:
    project = work / "project"
    dags = generate.write_factory_project(project, generate.pipelines(n))
    shutil.copy2(parse.REPO / "dags" / "factory_spec_errors.py", dags / "factory_spec_errors.py")
    tree = work / "tree"
    aws = awscli()
    out: dict[str, Any] = {"n": n, "files": mirror(project, tree), "runs": []}
    (work / "s3").mkdir()
    with seaweedfs.seaweedfs(work / "s3") as server:
        proxy = Recorder(server.endpoint)
        server.client().create_bucket(Bucket=BUCKET)
        env = {
            **parse.base_env(work),
            "AWS_ACCESS_KEY_ID": seaweedfs.ADMIN[0],
            "AWS_SECRET_ACCESS_KEY": seaweedfs.ADMIN[1],
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(work / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-credentials"),
            "NO_COLOR": "1",
        }
        changed = sorted((project / "specs").rglob("*.yaml"))[-1]
        for r in range(runs):
            found: dict[str, Any] = {}
            for tool in ("aws", "factory"):
                prefix = f"{tool}-{r + 1}/dags"
                target = f"s3://{BUCKET}/{prefix}"
                if tool == "aws":
                    argv = [str(aws), "s3", "sync", str(tree), target, "--only-show-errors"]
                else:
                    argv = [str(python), "-m", "factory", "sync", target, "--project", str(project)]
                argv += ["--endpoint-url", proxy.endpoint]
                for case in ("first", "no-op", "one spec changed"):
                    if case == "one spec changed":
                        changed.write_text(changed.read_text() + f"# {tool} run {r + 1}\n")
                        mirror(project, tree)
                    proxy.take()
                    wall = timed(argv, env, project)
                    found[f"{tool}/{case}"] = {"wall_s": wall, "requests": proxy.take()}
                    print(
                        f"  run {r + 1}: {tool} sync, {case}: {wall:.2f} s, {found[f'{tool}/{case}']['requests']}",
                        flush=True,
                    )
            out["runs"].append(found)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="N=50, 1 run: a smoke run")
    ap.add_argument("--python", default=str(parse.REPO / ".venv" / "bin" / "python"))
    ap.add_argument("--results", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    n, runs = (50, 1) if args.quick else (args.n, args.runs)
    work = Path(tempfile.mkdtemp(prefix="factory-sync-speed-"))
    try:
        res = measure(n, runs, work, Path(args.python))
    except parse.BenchmarkError as exc:
        print(f"\nSYNC BENCHMARK ABORTED: {exc}", file=sys.stderr)
        return 3
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text, ok = report(res, args, argv)
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    stem = "sync-speed-quick" if args.quick else "sync-speed"
    (out / f"{stem}.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / f"{stem}.md").write_text(text)
    print("\n" + text)
    return 0 if ok or args.quick else 1


def report(res: dict[str, Any], args: argparse.Namespace, argv: list[str] | None) -> tuple[str, bool]:
    command = "python benchmarks/sync_speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    runs = res["runs"]
    lines = [
        f"`{command}`: {res['n']:,} specs, {res['files']:,} files, medians of {len(runs)} run(s) of fresh processes, "
        f"through a counting proxy in front of SeaweedFS ({os.cpu_count()} cores).",
        "",
        "| case | aws s3 sync | factory sync | factory / aws | aws requests | factory requests |",
        "|---|--:|--:|--:|---|---|",
    ]
    faster = True
    for case in ("first", "no-op", "one spec changed"):
        a = statistics.median(r[f"aws/{case}"]["wall_s"] for r in runs)
        f = statistics.median(r[f"factory/{case}"]["wall_s"] for r in runs)
        faster = faster and f < a
        req = {tool: runs[-1][f"{tool}/{case}"]["requests"] for tool in ("aws", "factory")}
        shown = {tool: ", ".join(f"{k} {v}" for k, v in sorted(c.items())) for tool, c in req.items()}
        lines.append(f"| {case} | {a:.2f} s | {f:.2f} s | {f / a:.2f}x | {shown['aws']} | {shown['factory']} |")
    noop = runs[-1]["factory/no-op"]["requests"]
    pages = -(-res["files"] // 1000)
    lean = noop.get("LIST", 0) <= pages and noop.get("GET", 0) <= 1 and set(noop) <= {"LIST", "GET"}
    lines += [
        "",
        f"No-op `factory sync`: {noop.get('LIST', 0)} LIST page(s) for {res['files']:,} keys (at most {pages}), "
        f"{noop.get('GET', 0)} GET (the manifest), nothing else: {'PASS' if lean else '**FAIL**'}. "
        f"Every case faster than `aws s3 sync`: {'PASS' if faster else '**FAIL**'}.",
    ]
    return "\n".join(lines) + "\n", faster and lean


if __name__ == "__main__":
    sys.exit(main())
