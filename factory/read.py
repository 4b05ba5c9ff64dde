"""The front half of the pipeline for one file: load -> validate -> model.

Everything here is pure Python with no Airflow import, so `factory lint` and the
DAG loader share it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from factory.cache import SpecCache
from factory.diagnostics import Diagnostic, SpecError
from factory.load.layout import Project, name_problems
from factory.load.yaml import Document, decode, parse, read_bytes
from factory.model.build import build_platform, build_spec
from factory.model.platform import Platform
from factory.model.spec import Spec


class Reader:
    """Reads the specs of one project. Each defaults file is read once however many
    specs share it, and with a cache, an unchanged spec is not parsed again at all."""

    def __init__(self, project: Project, display_base: Path | None = None, cache: SpecCache | None = None) -> None:
        """`display_base`: diagnostics name files relative to it (default: the project's root)."""
        self.project = project
        self.cache = cache
        self._base = str((display_base or project.specs_dir.parent).resolve()) + os.sep
        self._schema_dir = str(project.schema_dir)
        self._raw: dict[Path, bytes] = {}
        self._defaults: dict[Path, Document | SpecError] = {}
        self._platform: Platform | SpecError | None = None

    def without_cache(self) -> Reader:
        """The same reader (files named the same way), reading every spec afresh."""
        twin = Reader(self.project, cache=None)
        twin._base, twin._raw, twin._defaults, twin._platform = self._base, self._raw, self._defaults, self._platform
        return twin

    @property
    def display_base(self) -> str:
        return self._base

    def name(self, path: Path) -> str:
        """How diagnostics name a file: relative to the display base when inside it."""
        text = os.path.abspath(path)  # no resolve(): one lstat per folder per spec adds up
        return text[len(self._base) :] if text.startswith(self._base) else str(path)

    def _checked(self, path: Path, kind: str, raw: bytes | None = None) -> Document:
        from factory.validate import schema  # here: a lint answered by its index validates nothing

        name = self.name(path)
        doc = parse(name, decode(name, raw if raw is not None else read_bytes(str(path), name)))
        problems = schema.check(doc, self._schema_dir, kind)
        if problems:
            raise SpecError(problems)
        return doc

    def _defaults_raw(self, path: Path) -> bytes:
        if path not in self._raw:
            self._raw[path] = read_bytes(str(path), self.name(path))
        return self._raw[path]

    def read_defaults(self, path: Path) -> Document:
        """A _defaults.yaml, checked against its schema; SpecError with its problems."""
        return self._defaults_doc(path)

    def _defaults_doc(self, path: Path) -> Document:
        cached = self._defaults.get(path)
        if cached is None:
            try:
                cached = self._checked(path, "defaults", self._defaults_raw(path))
            except SpecError as exc:
                cached = exc
            self._defaults[path] = cached
        if isinstance(cached, SpecError):
            raise cached
        return cached

    def read_spec(self, path: Path) -> Spec:
        """The model of one spec, or a SpecError with every problem found in it."""
        rel = self.name(path)
        naming = [Diagnostic(rel, 0, 0, problem, "file-name") for problem in name_problems(self.project, path)]
        if naming:
            raise SpecError(naming)
        chain = self.project.defaults_chain(path)
        raw = read_bytes(str(path), rel)
        key = self._key(raw, chain)
        if self.cache is not None:
            merged = self.cache.get(key) if key else None
            if merged is not None:
                return build_spec(self.project.dag_id(path), rel, merged)
        merged = self._validate(path, rel, raw, chain)
        if key and self.cache is not None:
            self.cache.put(key, merged)
        return build_spec(self.project.dag_id(path), rel, merged)

    def cache_key(self, path: Path) -> str | None:
        """The spec's key in the cache (None without a cache, or when a file is unreadable)."""
        try:
            return self._key(read_bytes(str(path), self.name(path)), self.project.defaults_chain(path))
        except SpecError:
            return None

    def _key(self, raw: bytes, chain: list[Path]) -> str | None:
        if self.cache is None:
            return None
        try:
            return self.cache.key(raw, [self._defaults_raw(p) for p in chain])
        except SpecError:
            return None  # an unreadable defaults file is reported by the validation

    def _validate(self, path: Path, rel: str, raw: bytes, chain: list[Path]) -> dict[str, Any]:
        """Schema and semantic checks of a spec with its defaults: the merged data, or every problem."""
        from factory.validate import notify, policy, schema, semantic

        doc = parse(rel, decode(rel, raw))
        if doc.data is None:
            raise SpecError([Diagnostic(rel, 0, 0, "the file is empty: a spec needs description and tasks", "empty")])
        problems = schema.check(doc, self._schema_dir, "spec")
        merged: dict[str, Any] = {}
        origin: dict[str, Document] = {}
        for defaults_path in chain:
            try:
                defaults = self._defaults_doc(defaults_path)
            except SpecError as exc:
                problems.append(
                    Diagnostic(rel, 0, 0, f"its defaults file {self.name(defaults_path)} is invalid", "defaults")
                )
                problems.extend(exc.diagnostics)
                continue
            merged.update(defaults.data)
            origin.update(dict.fromkeys(defaults.data, defaults))
        if isinstance(doc.data, dict):
            merged.update(doc.data)
            origin.update(dict.fromkeys(doc.data, doc))
            problems.extend(semantic.check(merged, origin, doc))
            platform, platform_name = self._policy(), self.name(self.project.platform_file)
            if isinstance(merged.get("tasks"), dict):
                problems.extend(policy.check(merged["tasks"], doc, platform.onprem, platform_name))
            problems.extend(notify.check(merged, origin, platform.notifications, platform_name))
        if problems:
            raise SpecError(sorted(problems, key=lambda d: (d.path != rel, d.path, d.line, d.column)))
        return merged

    def document(self, path: Path) -> Document | None:
        """A spec's parsed file (for the position of a problem found later), or None."""
        rel = self.name(path)
        try:
            return parse(rel, decode(rel, read_bytes(str(path), rel)))
        except SpecError:
            return None

    def read_platform(self) -> Platform:
        """The platform file's model; no file means on-prem defaults and no MWAA settings.
        Read once per Reader."""
        if self._platform is None:
            path = self.project.platform_file
            try:
                self._platform = build_platform(self._checked(path, "platform").data) if path.is_file() else Platform()
            except SpecError as exc:
                self._platform = exc
        if isinstance(self._platform, SpecError):
            raise self._platform
        return self._platform

    def _policy(self) -> Platform:
        """The platform's limits on specs (network modes, notification targets). A broken
        platform file is reported on its own (no spec compiles then); its specs are still
        held to the default limits."""
        try:
            return self.read_platform()
        except SpecError:
            return Platform()
