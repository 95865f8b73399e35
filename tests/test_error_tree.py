"""One error catalogue: every FacadeError subclass anywhere in facade/ is drawn in the tree of facade/errors.py under
its real parent, and every class the tree names exists (issue 8)."""

from __future__ import annotations

import importlib
import pkgutil
import re

import facade
from facade import errors
from facade.errors import FacadeError

_NODE = re.compile(r"^[ │├└─]*(?P<name>[A-Z]\w+Error)\b")


def _documented_tree() -> dict[str, str | None]:
    """class name -> the name of its parent in the docstring tree (None for the root)."""
    doc = errors.__doc__ or ""
    block = doc.split("Tree", 1)[1].split("::", 1)[1].split("\n\n")[1]
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        match = _NODE.match(line)
        assert match, f"not a tree line: {line!r}"
        depth = match.start("name")  # nesting is the column where the name starts
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match["name"]] = stack[-1][1] if stack else None
        stack.append((depth, match["name"]))
    return parents


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def _import_everything() -> None:
    for module in pkgutil.walk_packages(facade.__path__, "facade."):
        if module.name != "facade.__main__":  # runs the CLI when imported
            importlib.import_module(module.name)


def test_every_facade_error_class_is_in_the_documented_tree_under_its_parent() -> None:
    _import_everything()
    tree = _documented_tree()
    classes = {cls.__name__: cls for cls in _subclasses(FacadeError) if cls.__module__.startswith("facade.")}
    assert sorted(set(classes) - set(tree)) == [], "error classes missing from the tree in facade/errors.py"
    assert sorted(set(tree) - set(classes) - {"FacadeError"}) == [], "the tree names classes that do not exist"
    for name, cls in classes.items():
        parent = tree[name]
        assert parent is not None and parent in {base.__name__ for base in cls.__mro__[1:]}, name
        assert cls.__mro__[1].__name__ == parent, f"{name}: first base is {cls.__mro__[1].__name__}, tree says {parent}"


def test_the_tree_reader_sees_nesting() -> None:
    tree = _documented_tree()
    assert tree["FacadeError"] is None
    assert tree["TlsError"] == "TransportError" and tree["TransportError"] == "DeliveryError"
    assert tree["StaleLeaseError"] == "OutboxError" and tree["CdaSchemaError"] == "DocumentBuildError"
