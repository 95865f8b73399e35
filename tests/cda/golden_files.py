"""Goldens under tests/golden/: every kind (N1 CDA, CR-BIO CDA, XDS metadata) goes through ``check_golden``, which
validates the output with the conformance kit (XSD + schematrons; ebRS metadata: XSD, the kit has no schematron
for it) before comparing it byte for byte, or before writing it when FACADE_REGEN_GOLDEN=1 (review the diff)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from facade.cda.validation import FullValidator

GOLDEN = Path(__file__).resolve().parents[1] / "golden"

Validate = Callable[[bytes], list[str]]  # the problems found in a candidate golden (empty: valid)


def check_golden(relative: str, data: bytes, validate: Validate) -> None:
    """``data`` must be valid and equal tests/golden/<relative>; a golden is never written without passing."""
    problems = validate(data)
    assert problems == [], f"{relative}: the output fails validation (golden neither compared nor written): {problems}"
    path = GOLDEN / relative
    regen = os.environ.get("FACADE_REGEN_GOLDEN") == "1"
    if regen or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if not regen:
            pytest.fail(f"golden {relative} was missing and has been written: review it and rerun")
    assert data == path.read_bytes(), f"output differs from tests/golden/{relative} (FACADE_REGEN_GOLDEN=1 to update)"


def full_validation(validator: FullValidator, artefact: str, *, doc_type: str) -> Validate:
    """A CDA through the kit's XSD and schematrons (the volet of ``doc_type`` + the validator's profiles): every
    finding counts, warnings included."""

    def validate(data: bytes) -> list[str]:
        return [f"{i.problem.spec.code}: {i.message}" for i in validator.issues(data, artefact, doc_type=doc_type)]

    return validate


def xsd_validation(kit_validator: Any, expected_schema: str) -> Validate:
    """An ebRS message through the kit's XSD, which must be the one for ``expected_schema`` (e.g. ``lcm``)."""

    def validate(data: bytes) -> list[str]:
        key, errors = kit_validator.validate_xsd(etree.ElementTree(etree.fromstring(data)))
        return list(errors) if key == expected_schema else [f"validated as {key!r}, not {expected_schema!r}"]

    return validate
