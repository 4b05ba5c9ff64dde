"""A cache of validated, defaults-merged specs, so re-parsing skips YAML and validation.

Airflow re-parses the loader every 30 seconds and before every task; specs rarely
change in between. Entries are content-addressed: the key hashes the spec's bytes,
the bytes of its defaults chain, the schemas and the factory version, so an entry
can never be stale and never needs invalidating. Each entry is its own file,
written to a temporary name and renamed into place, so any number of parsing
processes can share the folder. JSON, not pickle: a cache folder must never be a
way to run code. Any problem (unwritable folder, as on a read-only dags folder, or
a corrupt entry) makes the cache step aside, never the parse fail.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from factory import __version__

log = logging.getLogger(__name__)


def default_dir() -> Path:
    """FACTORY_CACHE_DIR, else the user's cache folder (XDG), which MWAA workers have."""
    explicit = os.environ.get("FACTORY_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "factory" / "specs"


class SpecCache:
    def __init__(self, folder: Path, schema_files: list[Path]) -> None:
        self.folder = folder
        self.enabled = os.environ.get("FACTORY_CACHE", "1") != "0"
        digest = hashlib.sha256(__version__.encode())
        try:
            for path in schema_files:
                digest.update(path.read_bytes())
        except OSError:
            self.enabled = False  # validation will report the unreadable schema
        self._salt = digest.digest()

    def key(self, spec: bytes, defaults: list[bytes]) -> str:
        digest = hashlib.sha256(self._salt)
        # Lengths first, so no two different chains of files hash the same bytes.
        for part in (*defaults, spec):
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> Any | None:
        if not self.enabled:
            return None
        try:
            with open(self._path(key), "rb") as fh:
                return json.loads(fh.read())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # unreadable or corrupt: rebuild it
            log.debug("factory cache: ignoring entry %s: %s", key, exc)
            return None

    def put(self, key: str, value: Any) -> None:
        if not self.enabled:
            return
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(json.dumps(value, separators=(",", ":")).encode())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            # A read-only or full disk: parse without the cache from now on.
            log.debug("factory cache: disabled, cannot write %s: %s", path, exc)
            self.enabled = False
