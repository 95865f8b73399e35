"""Exact comparison against tests/golden/ (FACADE_REGEN_GOLDEN=1 rewrites the files; review the diff)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def compare_golden(relative: str, data: bytes) -> None:
    path = GOLDEN / relative
    regen = os.environ.get("FACADE_REGEN_GOLDEN") == "1"
    if regen or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if not regen:
            pytest.fail(f"golden {relative} was missing and has been written: review it and rerun")
    assert data == path.read_bytes(), f"output differs from tests/golden/{relative} (FACADE_REGEN_GOLDEN=1 to update)"
