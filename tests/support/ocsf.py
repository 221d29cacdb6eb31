"""A strict validator for OCSF events against the pinned schema's own files (fixtures/ocsf-1.8.0).

It reads the schema as OCSF publishes it (classes extending their category and base_event,
objects extending theirs, the dictionary's types) and checks an event the way the OCSF server's
validator does for what the bot uses: the class, category, activity and type_uid agree; every
required attribute (of the class and each object, through `extends`) is there; every attribute
present is one the class or object defines; each value has its dictionary type, enum values
are the schema's, and `at_least_one` constraints hold. Profiles' optional attributes are not
modelled: an event using one is refused, which is stricter than the schema.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).parent / "fixtures" / "ocsf-1.8.0"
#: Their enums in base_event are placeholders the OCSF compiler fills: `validate` checks them.
DERIVED = frozenset({"class_uid", "category_uid", "type_uid"})
SCALARS = {
    "string_t": str,
    "username_t": str,
    "hostname_t": str,
    "datetime_t": str,
    "uuid_t": str,
    "url_t": str,
    "ip_t": str,
    "resource_uid_t": str,
    "integer_t": int,
    "long_t": int,
    "timestamp_t": int,
    "port_t": int,
    "float_t": (int, float),
    "boolean_t": bool,
    "json_t": (dict, list, str, int, float, bool),
    "object": dict,
}


@cache
def _load(relative: str) -> dict[str, Any]:
    return json.loads((SCHEMA / relative).read_text())


def _dictionary() -> dict[str, Any]:
    return _load("dictionary.json")["attributes"]


@cache
def _events() -> dict[int, tuple[str, dict[str, Any]]]:
    """class_uid → (path, file) for the classes present."""
    categories = {k: v["uid"] for k, v in _load("categories.json")["attributes"].items()}
    found = {}
    for path in SCHEMA.glob("events/*/*.json"):
        data = json.loads(path.read_text())
        if "uid" in data and data.get("extends") in categories:
            found[categories[data["extends"]] * 1000 + data["uid"]] = (
                str(path.relative_to(SCHEMA)),
                data,
            )
        elif "uid" in data:
            parent = _load(f"events/{path.parent.name}/{data['extends']}.json")
            found[categories[parent["category"]] * 1000 + data["uid"]] = (
                str(path.relative_to(SCHEMA)),
                data,
            )
    return found


def _chain_event(data: dict[str, Any], folder: str) -> list[dict[str, Any]]:
    chain = [data]
    while data.get("extends"):
        name = data["extends"]
        path = "events/base_event.json" if name == "base_event" else f"events/{folder}/{name}.json"
        data = _load(path)
        chain.append(data)
    return chain


def _chain_object(name: str) -> list[dict[str, Any]]:
    chain = []
    while name:
        data = _load(f"objects/{name}.json")
        chain.append(data)
        name = data.get("extends", "")
    return chain


def _attributes(chain: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for data in reversed(chain):
        for key, spec in data.get("attributes", {}).items():
            if key.startswith("$"):
                continue
            before = merged.get(key, {})
            merged[key] = {**before, **spec}
            if "enum" in before and "enum" in spec:  # a class adds to its parent's values
                merged[key]["enum"] = {**before["enum"], **spec["enum"]}
    return merged


def _constraints(chain: list[dict[str, Any]]) -> list[list[str]]:
    return [
        c["at_least_one"] for c in (d.get("constraints") or {} for d in chain) if "at_least_one" in c
    ]


def validate(event: dict[str, Any]) -> list[str]:
    """Every way `event` breaks the schema (empty: it validates)."""
    errors: list[str] = []
    class_uid = event.get("class_uid")
    if class_uid not in _events():
        return [f"class_uid {class_uid!r} is no class of the schema's"]
    path, data = _events()[class_uid]
    chain = _chain_event(data, path.split("/")[1])
    category = _load("categories.json")["attributes"][chain[-2]["category"]]["uid"]
    if event.get("category_uid") != category:
        errors.append(f"category_uid {event.get('category_uid')} is not {category}")
    if event.get("type_uid") != class_uid * 100 + event.get("activity_id", -1):
        errors.append("type_uid is not class_uid * 100 + activity_id")
    errors += _check(event, _attributes(chain), _constraints(chain), where="")
    return errors


def _check(
    value: dict[str, Any], attributes: dict[str, Any], constraints: list[list[str]], *, where: str
) -> list[str]:
    errors = []
    for key, spec in attributes.items():
        if spec.get("requirement") == "required" and key not in value:
            errors.append(f"{where}{key}: required")
    for group in constraints:
        if not any(k in value for k in group):
            errors.append(f"{where}: at least one of {group}")
    for key, item in value.items():
        if key not in attributes:
            errors.append(f"{where}{key}: not an attribute here")
            continue
        errors += _typed(item, key, attributes[key], where=f"{where}{key}")
    return errors


def _typed(item: Any, key: str, spec: dict[str, Any], *, where: str) -> list[str]:
    known = _dictionary().get(key, {})
    kind = spec.get("type") or known.get("type")
    if spec.get("is_array", known.get("is_array")):
        if not isinstance(item, list):
            return [f"{where}: an array"]
        errors = []
        for n, one in enumerate(item):
            errors += _one(one, key, kind, spec, known, where=f"{where}[{n}]")
        return errors
    return _one(item, key, kind, spec, known, where=where)


def _one(
    item: Any, key: str, kind: str, spec: dict[str, Any], known: dict[str, Any], *, where: str
) -> list[str]:
    if kind in SCALARS:
        if isinstance(item, bool) and kind not in ("boolean_t", "json_t"):
            return [f"{where}: {kind}, not a boolean"]
        if not isinstance(item, SCALARS[kind]):
            return [f"{where}: {kind}, not {type(item).__name__}"]
        enum = spec.get("enum") or known.get("enum")
        if key in DERIVED:
            return []
        if enum and str(item) not in enum:
            return [f"{where}: {item!r} is not one of {sorted(enum)}"]
        return []
    if not isinstance(item, dict):
        return [f"{where}: an object ({kind})"]
    chain = _chain_object(kind)
    return _check(item, _attributes(chain), _constraints(chain), where=f"{where}.")
