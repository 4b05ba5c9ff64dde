"""A spec's command written as one string -> the container's argument list.

The string is split the way a POSIX shell splits words (shlex), with one difference: a
Jinja template (`{{ ... }}`, `{% ... %}`, `{# ... #}`) is never cut. Airflow renders
each argument on its own, so `--until {{ ds }}` must give the two arguments `--until`
and `{{ ds }}`; a plain shlex split would give `{{`, `ds` and `}}`, and the task fails
at run time with a template syntax error. Quotes inside a template (`{{ dag_run.conf.
get('period') }}`) are the template's own, not the shell's.

What a template renders to stays within its argument: the rendered value is never split
again, on either runtime, so a value with spaces reaches the container as written.
"""

from __future__ import annotations

import re
import shlex

_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
# Private-use characters: no shell meaning, and never in a spec a person wrote.
_OPEN, _CLOSE = "\ue000", "\ue001"
_HELD = re.compile(f"{_OPEN}(\\d+){_CLOSE}")


def split_command(text: str) -> list[str]:
    """The arguments of `text`; ValueError (from shlex) for an unclosed quote."""
    if _OPEN in text or _CLOSE in text:
        return shlex.split(text)
    held: list[str] = []

    def hold(match: re.Match[str]) -> str:
        held.append(match.group(0))
        return f"{_OPEN}{len(held) - 1}{_CLOSE}"

    words = shlex.split(_TEMPLATE.sub(hold, text))
    return [_HELD.sub(lambda m: held[int(m.group(1))], word) for word in words]
