"""Apply a plan to the bucket in an order that never breaks parsing, and survive being killed.

1. If anything is to be uploaded, the manifest first records those keys as pending.
2. Uploads, in bundle order: .airflowignore, code, schemas, settings, specs, loader.
   The files of one stage go up at once (UPLOAD_THREADS at a time: a request to S3 is
   mostly waiting), and a stage starts only when the one before it has fully landed,
   so MWAA's copy never holds a spec without its code or a loader without its specs.
3. Deletes, last, stage by stage the same way (MWAA may copy the folder at any moment: removing a file before its
   replacement is in place could hide a DAG for a parse cycle).
4. The manifest is written with the exact final state, and only if it changed: a sync
   with nothing to do writes nothing at all.

Killed anywhere, the next run converges: uploads are compared by content so what landed
is skipped, and the pending claims let it delete what the killed run wrote.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

from factory import __version__
from factory.deploy.bucket import Bucket
from factory.deploy.manifest import Entry, Manifest
from factory.deploy.plan import Action, Plan, Verb, stage_of

WRITER = f"factory {__version__}"
# botocore's connection pool holds 10 by default (aws.make_client raises it to this).
UPLOAD_THREADS = 16


class Progress(Protocol):
    def begin(self, total: int) -> None: ...

    def done(self, action: Action) -> None: ...

    def end(self) -> None: ...


@dataclass
class SyncResult:
    uploaded: int = 0
    deleted: int = 0
    manifest_written: bool = False


class SyncInterrupted(Exception):
    """A sync stopped part way; `result` says how far it got. Re-running it converges."""

    def __init__(self, cause: BaseException, result: SyncResult, total: int) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.result = result
        self.total = total


def apply_plan(bucket: Bucket, plan: Plan, manifest: Manifest, progress: Progress) -> SyncResult:
    """Make the bucket match the plan. Refuses a plan with conflicts (the caller decides)."""
    if plan.conflicts:
        raise ValueError("a plan with conflicts cannot be applied")
    result = SyncResult()
    changes = plan.changes
    progress.begin(len(changes))
    current = manifest
    etags: dict[str, str] = {}
    try:
        if plan.uploads:
            claims = {a.key: Entry(a.file.sha256, a.file.md5) for a in plan.uploads if a.file is not None}
            current = bucket.write_manifest(manifest.with_pending(claims), current, WRITER)
            result.manifest_written = True
        with ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="factory-sync") as pool:
            for _, group in itertools.groupby(changes, key=lambda a: (a.verb, stage_of(a))):
                _apply_stage(pool, bucket, list(group), etags, result, progress)
        final = Manifest(objects=plan.final_entries(etags))
        if not final.same_state(current):
            bucket.write_manifest(final, current, WRITER)
            result.manifest_written = True
    except Exception as exc:
        progress.end()
        raise SyncInterrupted(exc, result, len(changes)) from exc
    progress.end()
    return result


def _apply_stage(
    pool: ThreadPoolExecutor,
    bucket: Bucket,
    actions: list[Action],
    etags: dict[str, str],
    result: SyncResult,
    progress: Progress,
) -> None:
    """Every action of one stage at once; back only when all have landed. On a failure
    the ones not started are cancelled, those already sending finish (and are counted),
    and the first error is raised."""
    running: dict[Future[str | None], Action] = {pool.submit(_apply_one(bucket, a)): a for a in actions}
    pending = set(running)
    failure: BaseException | None = None
    while pending:
        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            action = running[future]
            if future.cancelled():
                continue
            error = future.exception()
            if error is not None:
                failure = failure or error
                continue
            if action.verb is Verb.UPLOAD:
                etags[action.key] = future.result() or ""
                result.uploaded += 1
            else:
                result.deleted += 1
            progress.done(action)  # told from this thread only, as each action lands
        if failure is not None:
            for other in pending:
                other.cancel()
    if failure is not None:
        raise failure


def _apply_one(bucket: Bucket, action: Action) -> Callable[[], str | None]:
    if action.verb is Verb.UPLOAD and action.file is not None:
        file = action.file
        return lambda: bucket.put(action.key, file.data, file.sha256, file.md5)
    return lambda: bucket.delete(action.key)
