"""A spec's run parameters as Airflow Params: the trigger form shows and checks them."""

from __future__ import annotations

from typing import Any

from factory.model.spec import RunParam

# JSON Schema as Airflow's Param takes it (and the UI's trigger form draws it).
_SCHEMA = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "enum": {"type": "string"},
    # The trigger form draws an array of strings as a text box of one item per line.
    # Each item names a copy in the UI (at most 250 characters); Airflow maps at most 1024.
    "list": {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": 250},
        "minItems": 1,
        "maxItems": 1024,
    },
}


def dag_params(params: tuple[RunParam, ...]) -> dict[str, Any] | None:
    if not params:
        return None
    try:  # Airflow 3
        from airflow.sdk import Param
    except ImportError:  # Airflow 2.10 / 2.11
        from airflow.models.param import Param  # type: ignore[no-redef]

    found = {}
    for param in params:
        schema: dict[str, Any] = dict(_SCHEMA[param.type])
        if param.values:
            schema["enum"] = list(param.values)
        if param.description:
            schema["description"] = param.description
        default = list(param.default) if isinstance(param.default, tuple) else param.default
        found[param.name] = Param(default, **schema)
    return found
