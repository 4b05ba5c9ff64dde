"""The three output formats of `factory lint`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from factory.diagnostics import Diagnostic


def _source_line(path: str, line: int, sources: dict[str, list[str]]) -> str | None:
    if path not in sources:
        try:
            sources[path] = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            sources[path] = []
    lines = sources[path]
    return lines[line - 1] if 0 < line <= len(lines) else None


def text(diagnostics: Iterable[Diagnostic], color: bool = False) -> str:
    """ruff/rustc style: location, message, the offending line with a caret, help."""
    red, bold, blue, reset = ("\033[31m", "\033[1m", "\033[34m", "\033[0m") if color else ("",) * 4
    sources: dict[str, list[str]] = {}
    out = []
    for d in diagnostics:
        rule = f" [{d.rule}]" if d.rule else ""
        label = f"{red}error{reset}" if d.severity == "error" else f"{blue}note{reset}"
        out.append(f"{bold}{d.location()}{reset}: {label}: {d.message}{rule}")
        source = _source_line(d.path, d.line, sources) if d.line else None
        if source is not None:
            gutter = str(d.line)
            pad = " " * len(gutter)
            shown = source.replace("\t", " ")
            width = _token_width(shown, d.column - 1)
            out.append(f"{blue}{gutter} |{reset} {shown}")
            out.append(f"{blue}{pad} |{reset} {' ' * (d.column - 1)}{red}{'^' * width}{reset}")
        if d.hint:
            out.append(f"{blue}  = help:{reset} {d.hint}")
    return "\n".join(out)


def _token_width(line: str, start: int) -> int:
    """Underline the word at the caret (a key or a plain value), or a whole quoted
    value, at least one column."""
    if start < len(line) and line[start] in "\"'":
        close = line.find(line[start], start + 1)
        if close > start:
            return close - start + 1
    end = start
    while end < len(line) and line[end] not in " :,]}#":
        end += 1
    return max(1, end - start)


def github(diagnostics: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands: annotations on the pull request's diff."""

    def esc(value: str, prop: bool = False) -> str:
        value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return value.replace(":", "%3A").replace(",", "%2C") if prop else value

    lines = []
    for d in diagnostics:
        where = f"file={esc(d.path, True)}"
        if d.line:
            where += f",line={d.line},col={d.column}"
        message = d.message + (f" ({d.hint})" if d.hint else "")
        command = "error" if d.severity == "error" else "notice"
        lines.append(f"::{command} {where},title={esc('factory lint', True)}::{esc(message)}")
    return "\n".join(lines)


def as_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps(
        [
            {
                "path": d.path,
                "line": d.line,
                "column": d.column,
                "message": d.message,
                "rule": d.rule,
                "hint": d.hint,
                "severity": d.severity,
            }
            for d in diagnostics
        ],
        indent=2,
    )


FORMATS: dict[str, Callable[..., str]] = {"text": text, "github": github, "json": as_json}
