"""FHIRPath Patch (a FHIR ``Parameters`` of ``operation`` parts) translated into JSON Patch operations on the resource.

Only the path forms the patchable elements need are understood (P4D TD2.1, MHD ``IHE.MHD.Patch.Parameters``):
``DocumentReference.<element>`` followed by ``[n]``, ``.where(<a>[.<b>]='<value>')``, ``.first()`` steps, and
``.value`` on an extension (its ``value[x]``). Which elements may change is decided afterwards, on the result
(``facade.dmp.patch``), so ``DocumentReference.description`` translates fine and is refused there (405).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from facade.errors import FacadeError, Problem

_STEP = re.compile(  # functions before names: ".where(" is not the element "where"
    r"\.where\((?P<field>[A-Za-z]+(?:\.[A-Za-z]+)?)\s*=\s*'(?P<value>[^']*)'\)"
    r"|\.(?P<first>first)\(\)"
    r"|\.(?P<name>[A-Za-z][A-Za-z0-9]*)"
    r"|\[(?P<index>\d+)\]"
)
_TYPES = ("add", "insert", "delete", "replace", "move")


def _parts(operation: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in operation.get("part") or []:
        if not isinstance(part, dict):
            continue
        name = part.get("name")
        value = next((v for k, v in part.items() if k.startswith("value")), None)
        out[str(name)] = value if value is not None else part.get("resource")
    return out


def _matches(item: Any, field: str, value: str) -> bool:
    node = item
    for name in field.split("."):
        if isinstance(node, list):
            return any(_matches(n, name, value) for n in node)
        node = node.get(name) if isinstance(node, dict) else None
    if isinstance(node, list):
        return value in node
    return bool(node == value)


def _pointer(path: Any, resource: Mapping[str, Any], where: str) -> str | None:
    """The JSON Pointer ``path`` selects in ``resource``; None when a ``where`` selects nothing."""
    if not isinstance(path, str) or not path.startswith("DocumentReference"):
        raise FacadeError(
            Problem.PATCH_INVALID, expression=where, reason=f"path {path!r} must start at DocumentReference"
        )
    rest, pointer = path[len("DocumentReference") :], ""
    node: Any = resource
    while rest:
        m = _STEP.match(rest)
        if m is None:
            raise FacadeError(
                Problem.PATCH_INVALID, expression=where, reason=f"unsupported FHIRPath {rest!r} in {path}"
            )
        rest = rest[m.end() :]
        if m["name"] is not None:
            name = m["name"]
            if name == "value" and isinstance(node, dict) and "url" in node:
                name = next((k for k in node if k.startswith("value")), "valueBoolean")
            pointer, node = f"{pointer}/{name}", node.get(name) if isinstance(node, dict) else None
            continue
        items: list[Any] = node if isinstance(node, list) else []
        if m["index"] is not None:
            index: int | None = int(m["index"])
        elif m["first"] is not None:
            index = 0 if items else None
        else:
            index = next((i for i, it in enumerate(items) if _matches(it, m["field"], m["value"])), None)
        if index is None:
            return None
        pointer, node = f"{pointer}/{index}", items[index] if index < len(items) else None
    return pointer


def to_operations(parameters: Any, resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    """JSON Patch operations equivalent to a FHIRPath Patch ``Parameters`` (FHIR R4 fhirpatch.html)."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise FacadeError(Problem.PATCH_INVALID, expression="$", reason="a FHIRPath Patch is a Parameters resource")
    operations: list[dict[str, Any]] = []
    for n, param in enumerate(parameters.get("parameter") or []):
        where = f"Parameters.parameter[{n}]"
        if not isinstance(param, dict) or param.get("name") != "operation":
            raise FacadeError(Problem.PATCH_INVALID, expression=where, reason="every parameter is an operation")
        p = _parts(param)
        kind = p.get("type")
        if kind not in _TYPES:
            raise FacadeError(Problem.PATCH_INVALID, expression=f"{where}.part", reason=f"type {kind!r}: {_TYPES}")
        pointer = _pointer(p.get("path"), resource, f"{where}.part")
        if pointer is None:
            if kind == "delete":  # deleting nothing is no error (fhirpatch.html)
                continue
            raise FacadeError(
                Problem.PATCH_INVALID, expression=f"{where}.part", reason=f"{p.get('path')} selects nothing"
            )
        if kind == "delete":
            operations.append({"op": "remove", "path": pointer})
        elif kind == "replace":
            operations.append({"op": "replace", "path": pointer, "value": p.get("value")})
        elif kind == "add":
            operations.append({"op": "add", "path": f"{pointer}/{p.get('name')}/-", "value": p.get("value")})
            _ensure_list(resource, pointer, str(p.get("name")), operations)
        elif kind == "insert":
            operations.append({"op": "add", "path": f"{pointer}/{p.get('index')}", "value": p.get("value")})
        else:
            operations.append(
                {"op": "move", "from": f"{pointer}/{p.get('source')}", "path": f"{pointer}/{p.get('destination')}"}
            )
    return operations


def _ensure_list(resource: Mapping[str, Any], pointer: str, name: str, operations: list[dict[str, Any]]) -> None:
    """``add`` appends to a repeating element; create it first when absent (a singleton is then replaced)."""
    node: Any = resource
    for token in [t for t in pointer.split("/") if t]:
        node = node[int(token)] if isinstance(node, list) else node.get(token)
    if isinstance(node, dict) and not isinstance(node.get(name), list):
        last = operations.pop()
        if name in node:
            operations.append({"op": "replace", "path": f"{pointer}/{name}", "value": last["value"]})
        else:
            operations.append({"op": "add", "path": f"{pointer}/{name}", "value": [last["value"]]})


__all__ = ["to_operations"]
