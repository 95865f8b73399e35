"""DMP lifecycle fixtures: the kit's ebRS schema (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from facade.cda.validation import XmlSchema, kit_schema


@pytest.fixture(scope="session")
def lcm_schema(kit_path: Path) -> XmlSchema:
    return kit_schema(kit_path, "schemas/ihe/ebRS/lcm.xsd")
