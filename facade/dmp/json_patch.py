"""RFC 6902 JSON Patch over RFC 6901 pointers, on plain JSON values (small enough to own: six operations, and the
caller decides afterwards what a change means). The input is never modified; a bad operation raises ``PatchError``
naming the operation (``$[n]``) so the client sees which one."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any


class PatchError(Exception):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def _tokens(pointer: Any) -> list[str]:
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        raise ValueError(f"{pointer!r} is not a JSON Pointer (RFC 6901)")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def _index(container: list[Any], token: str, *, for_add: bool = False) -> int:
    if for_add and token == "-":  # noqa: S105 (the RFC 6901 "end of array" token)
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise ValueError(f"{token!r} is not an array index")
    index = int(token)
    if index > len(container) or (index == len(container) and not for_add):
        raise ValueError(f"index {index} is out of range (length {len(container)})")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token)]
        else:
            raise ValueError(f"/{token} does not exist")
    return node


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last)]
    raise ValueError(f"{'/' + '/'.join(tokens)} does not exist")


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise ValueError("the whole document cannot be removed")
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last))
    raise ValueError(f"{'/' + '/'.join(tokens)} does not exist")


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_add=True), value)
    else:
        raise ValueError(f"{'/' + '/'.join(tokens[:-1])} is not a container")
    return doc


def _apply(doc: Any, op: Any) -> Any:
    if not isinstance(op, dict) or not isinstance(op.get("op"), str):
        raise ValueError("an operation is an object with op and path")
    kind, path = op["op"], _tokens(op.get("path"))
    if kind in ("add", "replace", "test") and "value" not in op:
        raise ValueError(f"{kind} needs a value")
    if kind == "add":
        return _add(doc, path, copy.deepcopy(op["value"]))
    if kind == "remove":
        _remove(doc, path)
        return doc
    if kind == "replace":
        _get(doc, path)  # must exist
        if not path:
            return copy.deepcopy(op["value"])
        _remove(doc, path)
        return _add(doc, path, copy.deepcopy(op["value"]))
    if kind == "test":
        if _get(doc, path) != op["value"]:
            raise ValueError("test failed: the value differs")
        return doc
    if kind in ("move", "copy"):
        source = _tokens(op.get("from"))
        if kind == "move" and path[: len(source)] == source and path != source:
            raise ValueError("cannot move a value into itself")
        value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
        return _add(doc, path, value)
    raise ValueError(f"unknown op {kind!r} (add, remove, replace, move, copy, test)")


def apply_operations(document: Any, operations: Sequence[Any]) -> Any:
    """The patched copy of ``document``; all operations or none (RFC 6902 §5)."""
    doc = copy.deepcopy(document)
    for n, op in enumerate(operations):
        try:
            doc = _apply(doc, op)
        except (ValueError, IndexError, KeyError) as exc:
            raise PatchError(f"$[{n}]", str(exc)) from exc
    return doc


__all__ = ["PatchError", "apply_operations"]
