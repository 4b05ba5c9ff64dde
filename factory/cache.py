"""A cache of validated, defaults-merged specs, so re-parsing skips YAML and validation.

Airflow re-parses the loader every 30 seconds; specs rarely change in between.
Entries are content-addressed: the key hashes the spec's bytes, the bytes of its
defaults chain, the schemas, the platform file and the factory code itself (each module's size and
modification time, so an edit or a new sync of the package is a new key even when the
version string stays), so an entry can never be stale and never needs invalidating.

All entries of one specs folder live in one "pack" file, read once per parse and
rewritten (to a temporary name, then renamed into place) only when a spec changed,
with exactly the entries that parse used, so it never grows stale. A thousand small
files cost more to create than the parse they save. Several parsing processes may
race to write: each pack they write is complete and correct, so the last one
simply wins. JSON, not pickle: a cache folder must never be a way to run code. Any
problem (an unwritable folder, as on a read-only dags folder, or a corrupt pack)
makes the cache step aside, never the parse fail.
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


def _code_fingerprint() -> bytes:
    """What the package's modules are now: a changed check must not be served an entry
    that older code validated. A stat per module, not a read: this runs every parse."""
    package = Path(__file__).parent
    parts = []
    for folder, dirs, names in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                parts.append(f"{os.path.relpath(path, package)}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(parts).encode()


class SpecCache:
    """The pack of one specs folder: `get` during a parse, `save` once at its end."""

    def __init__(self, folder: Path, specs_dir: Path, inputs: list[Path], tag: str = "") -> None:
        """`tag`: whose pack (a loader file's own, so each holds just the specs that file
        reads and the files never evict each other's entries)."""
        self.enabled = os.environ.get("FACTORY_CACHE", "1") != "0"
        self.folder = folder
        self.project_key = hashlib.sha256(str(specs_dir).encode()).hexdigest()[:24]
        self.path = folder / (f"{self.project_key}-{tag}.json" if tag else f"{self.project_key}.json")
        digest = hashlib.sha256(__version__.encode())
        digest.update(_code_fingerprint())
        try:
            for path in inputs:
                digest.update(path.read_bytes())
        except OSError:
            self.enabled = False  # validation will report the unreadable schema
        self._salt = digest.digest()
        self._pack: dict[str, Any] | None = None  # read on first use: lint's index may need none of it
        self._used: dict[str, Any] = {}
        self._made: dict[str, Any] = {}
        self._changed = False

    @property
    def salt(self) -> bytes:
        """What every key depends on besides the spec and its defaults (code, schemas, platform)."""
        return self._salt

    @property
    def _old(self) -> dict[str, Any]:
        if self._pack is None:
            self._pack = self._load() if self.enabled else {}
        return self._pack

    def _load(self) -> dict[str, Any]:
        try:
            with open(self.path, "rb") as fh:
                pack = json.loads(fh.read())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.debug("factory cache: ignoring %s: %s", self.path, exc)
            return {}
        return pack if isinstance(pack, dict) else {}

    def key(self, spec: bytes, defaults: list[bytes]) -> str:
        digest = hashlib.sha256(self._salt)
        # Lengths first, so no two different chains of files hash the same bytes.
        for part in (*defaults, spec):
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)
        return digest.hexdigest()

    def get(self, key: str) -> Any | None:
        value = self._old.get(key)
        if value is not None:
            self._used[key] = value
        return value

    def keep(self, key: str) -> None:
        """Keep an entry at the next save although this run did not read it (lint's index
        answered for its spec)."""
        value = self._old.get(key)
        if value is not None:
            self._used[key] = value

    def put(self, key: str, value: Any) -> None:
        self._used[key] = value
        self._made[key] = value
        self._changed = True

    def preload(self) -> None:
        """Read the pack now (before forking workers that would each read it)."""
        _ = self._old

    def made(self) -> dict[str, Any]:
        """The entries this process added (a forked lint worker hands them back)."""
        return dict(self._made)

    def save(self) -> None:
        """Write the pack if this parse changed it: new entries, or entries no longer used."""
        if not self.enabled or not (self._changed or self._used.keys() != self._old.keys()):
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(json.dumps(self._used, separators=(",", ":")).encode())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            # A read-only or full disk: parse without writing the cache.
            log.debug("factory cache: cannot write %s: %s", self.path, exc)
