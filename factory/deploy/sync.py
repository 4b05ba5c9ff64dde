"""Apply a plan to the bucket in an order that never breaks parsing, and survive being killed.

1. If anything is to be uploaded, the manifest first records those keys as pending.
2. Uploads, in bundle order: .airflowignore, code, schemas, settings, specs, loader.
3. Deletes, last (MWAA may copy the folder at any moment: removing a file before its
   replacement is in place could hide a DAG for a parse cycle).
4. The manifest is written with the exact final state, and only if it changed: a sync
   with nothing to do writes nothing at all.

Killed anywhere, the next run converges: uploads are compared by content so what landed
is skipped, and the pending claims let it delete what the killed run wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from factory import __version__
from factory.deploy.bucket import Bucket
from factory.deploy.manifest import Entry, Manifest
from factory.deploy.plan import Action, Plan, Verb

WRITER = f"factory {__version__}"


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
        for action in changes:
            if action.verb is Verb.UPLOAD and action.file is not None:
                etags[action.key] = bucket.put(action.key, action.file.data, action.file.sha256, action.file.md5)
                result.uploaded += 1
            elif action.verb is Verb.DELETE:
                bucket.delete(action.key)
                result.deleted += 1
            progress.done(action)
        final = Manifest(objects=plan.final_entries(etags))
        if not final.same_state(current):
            bucket.write_manifest(final, current, WRITER)
            result.manifest_written = True
    except Exception as exc:
        progress.end()
        raise SyncInterrupted(exc, result, len(changes)) from exc
    progress.end()
    return result
