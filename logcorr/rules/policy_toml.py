"""The effective policy as TOML text that `load_policy` reads back to the same policy (`policy show`).

A small writer for the shapes the policy has (tables of scalars, lists and string-keyed float tables);
field descriptions become comments.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from logcorr.rules.policy import Policy


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as a TOML value")


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else json.dumps(k)


def dumps(policy: Policy) -> str:
    """`policy` as TOML, one table per section, defaults included."""
    out: list[str] = [
        "# logcorr protection policy (effective values; see docs/rules.md)",
        f"# digest {policy.digest()}",
    ]
    for section, model in policy:
        assert isinstance(model, BaseModel)
        out.append("")
        out.append(f"[{section}]")
        doc = (type(model).__doc__ or "").strip().splitlines()
        if doc:
            out.append(f"# {doc[0]}")
        subtables: list[tuple[str, dict[str, Any]]] = []
        for name, field in type(model).model_fields.items():
            v = getattr(model, name)
            if isinstance(v, dict):
                subtables.append((name, v))
                continue
            comment = f"  # {field.description}" if field.description else ""
            out.append(f"{_key(name)} = {_value(v)}{comment}")
        for name, table in subtables:
            out.append("")
            out.append(f"[{section}.{_key(name)}]")
            out.extend(f"{_key(k)} = {_value(x)}" for k, x in table.items())
    return "\n".join(out) + "\n"
