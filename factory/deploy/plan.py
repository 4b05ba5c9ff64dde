"""The diff between the bundle and the bucket, by content, and what the factory may touch.

Rules, in the words the plan prints:
- upload: the object is missing or its content differs, and the key is the factory's
  (in the manifest, or carrying the factory's sha256 metadata) or free.
- unchanged: same content (known from the manifest while the ETag is the one the
  factory saw, else from the MD5 ETag, else from the sha256 metadata).
- adopt: an object the factory did not record already has exactly the wanted content
  (e.g. uploaded earlier with `aws s3 sync`): it is recorded as the factory's, not re-sent.
- conflict: an object the factory did not write sits where a file must go, with other
  content. Nothing is uploaded unless --adopt says to replace it.
- delete: the factory wrote it, it is no longer in the project, and it still holds what
  the factory wrote.
- release: the factory wrote it and it is no longer in the project, but someone changed
  it since: it is left in place and no longer recorded as the factory's.
Objects the factory never recorded are never deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from factory.deploy.bucket import RemoteObject
from factory.deploy.bundle import IGNORE_FILE, REPORTER_FILE, Bundle, BundleFile, Stage
from factory.deploy.manifest import Entry, Manifest
from factory.load.shards import Shard


class Verb(Enum):
    UPLOAD = "upload"
    UNCHANGED = "unchanged"
    ADOPT = "adopt"
    CONFLICT = "conflict"
    DELETE = "delete"
    RELEASE = "release"


@dataclass(frozen=True)
class Action:
    verb: Verb
    key: str
    reason: str
    file: BundleFile | None = None
    remote: RemoteObject | None = None


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    # Objects under the prefix that the factory neither wants nor owns: left alone.
    unrelated: list[str] = field(default_factory=list)

    def of(self, verb: Verb) -> list[Action]:
        return [a for a in self.actions if a.verb is verb]

    @property
    def uploads(self) -> list[Action]:
        return self.of(Verb.UPLOAD)

    @property
    def deletes(self) -> list[Action]:
        return self.of(Verb.DELETE)

    @property
    def conflicts(self) -> list[Action]:
        return self.of(Verb.CONFLICT)

    @property
    def releases(self) -> list[Action]:
        return self.of(Verb.RELEASE)

    @property
    def unchanged(self) -> int:
        """Files already right in the bucket (adopted ones included)."""
        return len(self.of(Verb.UNCHANGED)) + len(self.of(Verb.ADOPT))

    @property
    def changes(self) -> list[Action]:
        """What changes the bucket, in the order to apply it."""
        return self.uploads + self.deletes

    def final_entries(self, uploaded_etags: dict[str, str]) -> dict[str, Entry]:
        """The manifest's objects once every upload landed with the given ETags."""
        entries: dict[str, Entry] = {}
        for action in self.actions:
            if action.file is None or action.verb is Verb.CONFLICT:
                continue
            if action.verb is Verb.UPLOAD:
                etag = uploaded_etags.get(action.key, "")
            else:
                etag = action.remote.etag if action.remote else ""
            entries[action.key] = Entry(action.file.sha256, action.file.md5, etag)
        return entries

    def summary(self) -> str:
        counts = [
            (len(self.uploads), "to upload"),
            (len(self.deletes), "to delete"),
            (len(self.of(Verb.UNCHANGED)), "unchanged"),
            (len(self.of(Verb.ADOPT)), "to adopt"),
            (len(self.of(Verb.RELEASE)), "to release"),
            (len(self.conflicts), "in conflict"),
        ]
        text = ", ".join(f"{n} {label}" for n, label in counts if n or label in ("to upload", "to delete"))
        if self.unrelated:
            text += f"; {len(self.unrelated)} other object(s) under the prefix are not the factory's and are left alone"
        return text


def make_plan(
    bundle: Bundle,
    remote: dict[str, RemoteObject],
    manifest: Manifest,
    sha256_of: Callable[[str], str | None],
    adopt: bool = False,
) -> Plan:
    """`sha256_of(key)` reads the factory's metadata from the bucket (a HEAD request);
    it is called only when the manifest and the ETag cannot tell the content."""
    plan = Plan()
    owned = manifest.owned_keys()

    for file in bundle.files:
        obj = remote.get(file.key)
        if obj is None:
            reason = "missing from the bucket" if file.key in manifest.objects else "new"
            plan.actions.append(Action(Verb.UPLOAD, file.key, reason, file))
            continue
        known = _known_sha256(manifest, obj)
        if known is not None:
            same = known == file.sha256
        elif obj.md5 is not None and obj.md5 == file.md5:
            same = True
        else:
            same = sha256_of(file.key) == file.sha256
        if same:
            if file.key in owned:
                plan.actions.append(Action(Verb.UNCHANGED, file.key, "same content", file, obj))
            else:
                plan.actions.append(
                    Action(
                        Verb.ADOPT, file.key, "identical content already there; recorded as the factory's", file, obj
                    )
                )
        elif file.key in owned:
            plan.actions.append(Action(Verb.UPLOAD, file.key, "changed", file, obj))
        elif sha256_of(file.key) is not None:
            # Written by a factory sync whose manifest entry was lost: still the factory's.
            plan.actions.append(Action(Verb.UPLOAD, file.key, "changed (carries the factory's metadata)", file, obj))
        elif adopt:
            plan.actions.append(
                Action(Verb.UPLOAD, file.key, "replaces an object the factory did not write (--adopt)", file, obj)
            )
        else:
            plan.actions.append(
                Action(
                    Verb.CONFLICT,
                    file.key,
                    "already there, not written by the factory, different content (--adopt replaces it)",
                    file,
                    obj,
                )
            )

    wanted = bundle.keys()
    gone = sorted(owned - wanted, key=lambda k: (-_stage_of(k), k))
    for key in gone:
        obj = remote.get(key)
        if obj is None:
            continue  # already absent: it just leaves the manifest
        if _still_ours(manifest, key, obj, sha256_of):
            plan.actions.append(Action(Verb.DELETE, key, "no longer in the project", remote=obj))
        else:
            plan.actions.append(
                Action(
                    Verb.RELEASE, key, "no longer in the project but changed by someone else: left in place", remote=obj
                )
            )

    plan.unrelated = sorted(k for k in remote if k not in wanted and k not in owned)
    return plan


def _known_sha256(manifest: Manifest, obj: RemoteObject) -> str | None:
    """The content recorded for an object the bucket shows unchanged since the factory saw it."""
    entry = manifest.objects.get(obj.key)
    if entry is not None and entry.etag and entry.etag == obj.etag:
        return entry.sha256
    return None


def _still_ours(manifest: Manifest, key: str, obj: RemoteObject, sha256_of: Callable[[str], str | None]) -> bool:
    claims = manifest.claims(key)
    if _known_sha256(manifest, obj) is not None:
        return True
    if obj.md5 is not None and any(obj.md5 == c.md5 for c in claims):
        return True
    sha256 = sha256_of(key)
    return sha256 is not None and any(sha256 == c.sha256 for c in claims)


def stage_of(action: Action) -> Stage:
    """Where an action sits in the upload order: actions of one stage may run at once."""
    return action.file.stage if action.file is not None else _stage_of(action.key)


def _stage_of(key: str) -> Stage:
    """Where a key sits in the upload order (deletes run in reverse: loader and specs first)."""
    if key == IGNORE_FILE:
        return Stage.IGNORE
    # Any loader file, also of an older factory's set (factory_dags.py, or another count
    # of files), so that deleting it runs in the loader's place in the order.
    if key in (REPORTER_FILE, "factory_dags.py") or ("/" not in key and Shard.of_file(key) is not None):
        return Stage.LOADER
    if key.startswith("factory/"):
        return Stage.CODE
    if key.startswith("schemas/"):
        return Stage.SCHEMAS
    if key.startswith("specs/"):
        return Stage.SETTINGS if key.rsplit("/", 1)[-1].startswith("_") else Stage.SPECS
    return Stage.SPECS
