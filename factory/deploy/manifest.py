"""The manifest: which objects under the dags prefix the factory put there, and their content.

It is one JSON object under the prefix (`.factory-manifest.json`; Airflow only parses
.py files, so it is inert on MWAA). It is how the factory knows what it may delete:
an object that is not in it is never deleted.

Crash safety: before uploading, the sync records every key it is about to write as
*pending* (with the content it will write). A sync killed after that point leaves a
manifest that claims a superset of what is in the bucket, so the next run can still
delete what the killed one wrote but is no longer wanted. A successful sync ends by
writing the exact state and clearing `pending`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MANIFEST_NAME = ".factory-manifest.json"
FORMAT = 1


class ManifestError(Exception):
    """The manifest object exists but is not one this version of the factory can read."""


@dataclass(frozen=True)
class Entry:
    """Content of one object the factory wrote (or verified) under the prefix."""

    sha256: str
    md5: str
    # The ETag S3 gave that object. While the bucket still shows this ETag the object is
    # unchanged since, so its content is known without a HEAD request. "" = unknown.
    etag: str = ""

    def to_json(self) -> dict[str, str]:
        data = {"sha256": self.sha256, "md5": self.md5}
        if self.etag:
            data["etag"] = self.etag
        return data

    @classmethod
    def from_json(cls, data: Any) -> Entry:
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("sha256"), str)
            or not isinstance(data.get("md5"), str)
        ):
            raise ManifestError(f"bad entry: {data!r}")
        etag = data.get("etag", "")
        return cls(data["sha256"], data["md5"], etag if isinstance(etag, str) else "")


@dataclass(frozen=True)
class Manifest:
    objects: dict[str, Entry] = field(default_factory=dict)
    # Keys a sync started to write and did not confirm: every content it may have left there.
    pending: dict[str, tuple[Entry, ...]] = field(default_factory=dict)
    # ETag of the manifest object itself (None: there is none yet), for conditional writes.
    etag: str | None = None

    def owned_keys(self) -> set[str]:
        return set(self.objects) | set(self.pending)

    def claims(self, key: str) -> list[Entry]:
        """Every content the factory may have written at `key`."""
        found = list(self.pending.get(key, ()))
        if key in self.objects:
            found.insert(0, self.objects[key])
        return found

    def with_pending(self, writes: dict[str, Entry]) -> Manifest:
        """This manifest plus claims on keys about to be written."""
        pending = dict(self.pending)
        for key, entry in writes.items():
            previous = pending.get(key, ())
            if entry not in previous:
                pending[key] = (*previous, entry)
        return Manifest(objects=dict(self.objects), pending=pending, etag=self.etag)

    def same_state(self, other: Manifest) -> bool:
        """Equal but for the manifest's own ETag: no need to write it again."""
        return self.objects == other.objects and self.pending == other.pending

    def to_json(self, writer: str) -> bytes:
        doc = {
            "format": FORMAT,
            "written_by": writer,
            "written_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "objects": {key: self.objects[key].to_json() for key in sorted(self.objects)},
            "pending": {key: [e.to_json() for e in self.pending[key]] for key in sorted(self.pending)},
        }
        return (json.dumps(doc, indent=1, sort_keys=False) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, etag: str | None) -> Manifest:
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise ManifestError(f"not JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
            raise ManifestError(f"format {found!r}, expected {FORMAT}")
        objects = doc.get("objects", {})
        pending = doc.get("pending", {})
        if not isinstance(objects, dict) or not isinstance(pending, dict):
            raise ManifestError("'objects' and 'pending' must be mappings")
        if not all(isinstance(v, list) for v in pending.values()):
            raise ManifestError("each 'pending' value must be a list")
        return cls(
            objects={str(k): Entry.from_json(v) for k, v in objects.items()},
            pending={str(k): tuple(Entry.from_json(e) for e in v) for k, v in pending.items()},
            etag=etag,
        )
