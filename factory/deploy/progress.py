"""How a sync shows its progress: a bar on a terminal, one plain line per change in CI logs."""

from __future__ import annotations

import shutil
from typing import TextIO

from factory.deploy.plan import Action, Verb

_PAST = {Verb.UPLOAD: "uploaded", Verb.DELETE: "deleted"}


class PlainProgress:
    """One line per change, flushed at once, so a CI log shows how far a sync got."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def begin(self, total: int) -> None:
        pass

    def done(self, action: Action) -> None:
        print(
            f"{_PAST.get(action.verb, action.verb.value):9} {action.key}  ({action.reason})",
            file=self.stream,
            flush=True,
        )

    def end(self) -> None:
        pass


class BarProgress:
    """A single redrawn line: [#####-----] 12/40 factory/loader.py."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.total = 0
        self.count = 0
        self.drawn = False

    def begin(self, total: int) -> None:
        self.total = total
        self.count = 0
        if total:
            self._draw("")

    def done(self, action: Action) -> None:
        self.count += 1
        self._draw(f"{_PAST.get(action.verb, action.verb.value)} {action.key}")

    def end(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False

    def _draw(self, label: str) -> None:
        width = shutil.get_terminal_size((80, 24)).columns
        bar_width = 24
        filled = bar_width * self.count // max(self.total, 1)
        counter = f"{self.count}/{self.total}"
        line = f"[{'#' * filled}{'-' * (bar_width - filled)}] {counter} {label}"
        line = line[: width - 1]
        # \r and a clear-to-end-of-line redraw in place.
        self.stream.write(f"\r{line}\033[K")
        self.stream.flush()
        self.drawn = True
