"""What a loader file could not load, handed to the reporter through the cache folder.

The loader files and the reporter are parsed in separate processes. Two things only a
loader file learns must still reach the reporter's import error, or DAGs would vanish
with nothing said:

- a spec that passed every check but did not compile (a factory bug, or an Airflow
  version it does not handle). The entry counts only while the spec's content key is
  unchanged, so a fix clears it at once;
- the specs a loader file did not reach because it ran out of its parse-time budget
  (factory/budget.py), rewritten at each parse of that file.

Each loader file writes its own hand-over, so the files never race; the reporter reads
them all.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from factory.check import SpecChecker

log = logging.getLogger(__name__)
SUFFIX = ".handover.json"


class HandOver:
    """One loader file's hand-over: `compile` (spec name -> key and diagnostic) and
    `out_of_time` (the budget, and the specs not reached)."""

    def __init__(self, checker: SpecChecker, tag: str) -> None:
        self.checker = checker
        cache = checker.reader.cache
        usable = cache is not None and cache.enabled
        self.path = cache.folder / f"{cache.project_key}-{tag}{SUFFIX}" if usable else None  # type: ignore[union-attr]
        self.entries: dict[str, Any] = {}
        self.out_of_time: dict[str, Any] | None = None

    @staticmethod
    def key_of(checker: SpecChecker, path: Path) -> str:
        cache = checker.reader.cache
        if cache is None:
            return ""
        chain = [p.read_bytes() for p in checker.project.defaults_chain(path)]
        platform = checker.project.platform_file
        extra = [platform.read_bytes() if platform.is_file() else b"", checker.runtime.encode()]
        return cache.key(path.read_bytes(), [*chain, *extra])

    def add(self, path: Path, problem: Any) -> None:
        if self.path is not None:
            self.entries[problem.path] = {"key": self.key_of(self.checker, path), "diagnostic": vars(problem)}

    def ran_out(self, file_name: str, budget: float, why: str, names: list[str]) -> None:
        self.out_of_time = {"file": file_name, "budget_s": round(budget, 1), "why": why, "specs": names}

    def save(self) -> None:
        """Rewrite the hand-over when it changed (the usual case is none, and no file)."""
        if self.path is None:
            return
        content = {"compile": self.entries, "out_of_time": self.out_of_time}
        if content == _read(self.path):
            return
        try:
            if not self.entries and self.out_of_time is None:
                self.path.unlink(missing_ok=True)
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(content))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.debug("factory: cannot write %s: %s", self.path, exc)


def read_all(checker: SpecChecker) -> list[dict[str, Any]]:
    """Every loader file's hand-over for this project (empty without a cache)."""
    cache = checker.reader.cache
    if cache is None or not cache.enabled:
        return []
    found = []
    for path in sorted(cache.folder.glob(f"{cache.project_key}-*{SUFFIX}")):
        content = _read(path)
        if content is not None:
            found.append(content)
    return found


def _read(path: Path) -> dict[str, Any] | None:
    try:
        content = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None
