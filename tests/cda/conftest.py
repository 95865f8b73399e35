"""CDA test fixtures: renderer with the kit's XSD, one FullValidator per session.

Goldens live in tests/golden/ and go through golden_files.check_golden (validated, then compared; set
FACADE_REGEN_GOLDEN=1 to rewrite them after validation, then review the diff)."""

from __future__ import annotations

from pathlib import Path

import pytest

from facade.cda.render import DEFAULT_TEMPLATES_DIR, CdaRenderer
from facade.cda.validation import CdaSchema, FullValidator


@pytest.fixture(scope="session")
def cda_schema(kit_path: Path) -> CdaSchema:
    return CdaSchema.from_kit(kit_path)


@pytest.fixture(scope="session")
def renderer(cda_schema: CdaSchema) -> CdaRenderer:
    return CdaRenderer(DEFAULT_TEMPLATES_DIR, cda_schema)


@pytest.fixture(scope="session")
def bare_renderer() -> CdaRenderer:
    """No XSD: for the tests that must run without the kit."""
    return CdaRenderer(DEFAULT_TEMPLATES_DIR)


@pytest.fixture(scope="session")
def full_validator(kit_path: Path) -> FullValidator:
    return FullValidator(kit_path)
