"""`factory sync` uploads each stage's files at once, and never starts a stage before the
one it depends on has fully landed (a stand-in bucket that records when each request
starts and ends; tests/deploy/test_deploy_sync.py runs the same sync on SeaweedFS)."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from factory.deploy.bundle import Stage, build_bundle
from factory.deploy.manifest import Manifest
from factory.deploy.plan import make_plan, stage_of
from factory.deploy.sync import UPLOAD_THREADS, SyncInterrupted, apply_plan


class Recording:
    """Bucket's interface, in memory: each put takes a little while, as over a network."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.spans: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.fail_on = fail_on

    def write_manifest(self, manifest: Manifest, expected: Manifest, writer: str) -> Manifest:
        return Manifest(objects=manifest.objects, pending=manifest.pending, etag="m")

    def put(self, key: str, data: bytes, sha256: str, md5: str) -> str:
        start = time.monotonic()
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.01)
        with self.lock:
            self.running -= 1
            self.spans[key] = (start, time.monotonic())
        if key == self.fail_on:
            raise OSError(f"connection reset sending {key}")
        return md5

    def delete(self, key: str) -> None:
        self.spans[key] = (time.monotonic(), time.monotonic())


class Quiet:
    def __init__(self) -> None:
        self.told: list[str] = []

    def begin(self, total: int) -> None: ...

    def done(self, action: Any) -> None:
        self.told.append(action.key)

    def end(self) -> None: ...


@pytest.fixture
def big_project(project: Path) -> Path:
    specs = project / "specs" / "team"
    for i in range(60):
        (specs / f"extra_{i}.yaml").write_text((specs / "alpha.yaml").read_text())
    return project


def test_each_stage_goes_up_at_once_and_only_after_the_one_before(big_project: Path) -> None:
    plan = make_plan(build_bundle(big_project), {}, Manifest(), lambda key: None)
    bucket, progress = Recording(), Quiet()
    result = apply_plan(bucket, plan, Manifest(), progress)  # type: ignore[arg-type]
    assert result.uploaded == len(plan.uploads) == len(bucket.spans)
    assert sorted(progress.told) == sorted(a.key for a in plan.uploads)
    assert 1 < bucket.most <= UPLOAD_THREADS, "uploads overlap, bounded"
    stages: dict[Stage, list[tuple[float, float]]] = {}
    for action in plan.uploads:
        stages.setdefault(stage_of(action), []).append(bucket.spans[action.key])
    order = sorted(stages)
    assert order[0] == Stage.IGNORE and order[-1] == Stage.LOADER
    for before, after in itertools.pairwise(order):
        assert max(end for _, end in stages[before]) <= min(start for start, _ in stages[after]), (before, after)


def test_a_failed_upload_stops_the_sync_before_the_next_stage(big_project: Path) -> None:
    plan = make_plan(build_bundle(big_project), {}, Manifest(), lambda key: None)
    spec = next(a.key for a in plan.uploads if stage_of(a) == Stage.SPECS)
    bucket = Recording(fail_on=spec)
    with pytest.raises(SyncInterrupted) as raised:
        apply_plan(bucket, plan, Manifest(), Quiet())  # type: ignore[arg-type]
    assert "connection reset" in str(raised.value)
    loaders = [a.key for a in plan.uploads if stage_of(a) == Stage.LOADER]
    assert not set(loaders) & set(bucket.spans), "no loader file goes up after a spec failed"
    assert raised.value.result.uploaded == len(bucket.spans) - 1, "what landed is counted, the failure is not"
