"""The README's "Layout" section matches the tree: every package and top-level module of facade/ is named there,
and every module it names exists where it says."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACADE = ROOT / "facade"


def _layout() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1]
    return section.split("```")[1].splitlines()


def _named_modules() -> set[str]:
    """Paths (relative to facade/) of the modules the layout names, each read in the package its line is under
    ("  mapping/ ..." opens a package, "    lab/ ..." a subpackage, "  pipeline.py ..." is back at the top)."""
    named: set[str] = set()
    package: list[str] = []
    for line in _layout():
        if not line.startswith("  "):  # facade/ itself, then templates/, conformance/ ...: not modules of facade/
            package = []
            continue
        opened = re.match(r"^( +)(\w+)/ ", line)
        if opened:
            depth = len(opened.group(1)) // 2
            package = [*package[: depth - 1], opened.group(2)]
        elif re.match(r"^  \w+\.py ", line):
            package = []
        for name in re.findall(r"(?<![\w/.])(\w+\.py)\b", line):
            named.add("/".join([*package, name]))
    return named


def test_every_named_module_exists() -> None:
    missing = sorted(m for m in _named_modules() if not (FACADE / m).is_file())
    assert not missing, f"README Layout names modules that do not exist: {missing}"


def test_every_package_and_top_level_module_is_named() -> None:
    text = "\n".join(_layout())
    packages = sorted(p.name for p in FACADE.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    modules = sorted(p.name for p in FACADE.glob("*.py") if p.name != "__init__.py")
    absent = [f"{p}/" for p in packages if not re.search(rf"^ +{p}/ ", text, re.M)]
    absent += [m for m in modules if not re.search(rf"(?<![\w/.]){re.escape(m)}\b", text)]
    assert not absent, f"README Layout does not name: {absent}"
