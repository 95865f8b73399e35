"""ebRIM test fixtures: the kit's ebRS schemas (offline), rendered sample documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from facade.cda.render import DEFAULT_TEMPLATES_DIR, CdaRenderer
from facade.cda.validation import XmlSchema, kit_schema


@pytest.fixture(scope="session")
def lcm_schema(kit_path: Path) -> XmlSchema:
    return kit_schema(kit_path, "schemas/ihe/ebRS/lcm.xsd")


@pytest.fixture(scope="session")
def rim_schema(kit_path: Path) -> XmlSchema:
    return kit_schema(kit_path, "schemas/ihe/ebRS/rim.xsd")


@pytest.fixture(scope="session")
def cda_renderer() -> CdaRenderer:
    return CdaRenderer(DEFAULT_TEMPLATES_DIR)
