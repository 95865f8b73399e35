"""Shared fixtures. The ANS conformance kit is located by path, never copied into the project:
FACADE_VALIDATION_KIT, else ../shared/conformance-kit beside the project root. Tests that need it skip,
with a message, only when the folder is absent."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Starlette's TestClient calls itself "testserver": a name the facade answers to in tests (FACADE_ALLOWED_HOSTS,
# checked before any absolute URL is built from a Host header); real servers in tests listen on 127.0.0.1.
os.environ.setdefault("FACADE_ALLOWED_HOSTS", "localhost,127.0.0.1,::1,testserver")
KIT = Path(os.environ.get("FACADE_VALIDATION_KIT", ROOT.parent / "shared" / "conformance-kit")).resolve()


@pytest.fixture(scope="session")
def kit_path() -> Path:
    if not (KIT / "validate.py").is_file():
        pytest.skip(f"conformance kit not found at {KIT} (set FACADE_VALIDATION_KIT)")
    return KIT


@pytest.fixture(scope="session")
def kit_module(kit_path: Path) -> ModuleType:
    """The kit's own validate.py, imported from its path (not copied)."""
    spec = importlib.util.spec_from_file_location("conformance_kit_validate", kit_path / "validate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def kit_validator(kit_module: ModuleType) -> Any:
    """One compiled validator per session (the struct-min schematron compile costs seconds)."""
    return kit_module.Validator()
