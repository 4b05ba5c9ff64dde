"""Diagnostics: what every stage of the pipeline reports about a user's file."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Diagnostic:
    """One problem in one file, located the way a compiler locates it.

    `line` and `column` are 1-based; 0 means "the whole file" (e.g. undecodable bytes).
    """

    path: str
    line: int
    column: int
    message: str
    rule: str = ""  # the schema path or check name, e.g. "tasks/*/memory/pattern"
    hint: str = ""  # e.g. "did you mean 'depends_on'?"
    severity: str = "error"  # or "note": worth knowing, never a failure

    def location(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column}"
        return self.path

    def __str__(self) -> str:
        text = f"{self.location()}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


@dataclass
class SpecError(Exception):
    """A file could not be turned into a model; carries every problem found in it."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(d) for d in self.diagnostics)
