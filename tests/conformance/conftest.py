"""The conformance suite's fixtures: every example bundle of conformance/bundles/, run in-process through the same
Converter the CLI and the API use (Runtime wiring), with a fixed clock and sequential OIDs so the output is
byte-for-byte reproducible, and the kit's validators (FullValidator, ebRS XSDs) to judge what was produced."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from facade.api.outcomes import operation_outcome
from facade.cda.validation import FullValidator, XmlSchema, kit_schema
from facade.errors import FacadeError, Issue
from facade.ids import SequentialOids
from facade.pipeline import Conversion, Converter
from facade.runtime import Runtime
from facade.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = ROOT / "conformance" / "bundles"
EXPECTED = ROOT / "conformance" / "expected"
# The instant every expected/ output was produced at (same value as `facade preview --now`).
FIXED_NOW = datetime.fromisoformat("2026-03-02T17:50:00+01:00")
REGEN = os.environ.get("FACADE_REGEN_GOLDEN") == "1"

ALL_BUNDLES = sorted(BUNDLES.glob("*/*.json"))


def case_name(bundle: Path) -> str:
    """`<type>/<stem>`: the bundle's place under bundles/ and its outputs' place under expected/."""
    return f"{bundle.parent.name}/{bundle.stem}"


def preview_settings(kit: Path, state_dir: Path) -> Settings:
    """What `facade preview` runs with (development, test INS accepted, this kit), with no FACADE_* variable of the
    caller's environment leaking in: the expected outputs depend on the default facility settings."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("FACADE_"):
                mp.delenv(name)
        settings = Settings(environment="development", validation_kit=kit, state_dir=state_dir)
    settings.input.accept_test_ins = True
    return settings


def describe(issues: list[Issue]) -> str:
    return "\n".join(f"  {i.effective_severity}: {i.problem.spec.code}: {i.message} @ {i.expression}" for i in issues)


def artefacts(conversion: Conversion) -> dict[str, bytes]:
    """The files of one example: n.cda.xml per document, the XDS metadata, the OperationOutcome of every issue."""
    files = {f"{n}.cda.xml": doc.cda for n, doc in enumerate(conversion.documents, start=1)}
    files["metadata.xml"] = etree.tostring(conversion.metadata(), xml_declaration=True, encoding="UTF-8")
    outcome = operation_outcome(conversion.all_issues())
    files["outcome.json"] = (json.dumps(outcome, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return files


ConvertFixed = Callable[[Path], Conversion]


@pytest.fixture(scope="session")
def settings(kit_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return preview_settings(kit_path, tmp_path_factory.mktemp("conformance-state"))


@pytest.fixture(scope="session")
def converter(settings: Settings) -> Converter:
    converter = Runtime(settings).converter
    assert converter.schema is not None and converter.full_validator is not None, "the kit must be wired"
    return converter


@pytest.fixture(scope="session")
def full_validator(converter: Converter) -> FullValidator:
    assert converter.full_validator is not None
    converter.full_validator.warm_up()
    return converter.full_validator


@pytest.fixture(scope="session")
def convert_fixed(converter: Converter, settings: Settings) -> ConvertFixed:
    """convert(bundle) with the fixed clock and fresh sequential OIDs (like `facade preview --full --now`).
    A bundle that cannot be converted fails the calling test with its OperationOutcome, never skips it."""
    cache: dict[Path, Conversion] = {}

    def _convert(bundle: Path) -> Conversion:
        if bundle not in cache:
            fixed = dataclasses.replace(
                converter, now=lambda: FIXED_NOW, new_oid=SequentialOids(settings.facility.oid_root)
            )
            try:
                cache[bundle] = fixed.convert(bundle.read_bytes(), full=True)
            except FacadeError as exc:
                pytest.fail(f"{case_name(bundle)} does not convert ({exc.problem.spec.code}):\n{describe(exc.issues)}")
        return cache[bundle]

    return _convert


@pytest.fixture(scope="session")
def rim_schema(kit_path: Path) -> XmlSchema:
    return kit_schema(kit_path, "schemas/ihe/ebRS/rim.xsd")


@pytest.fixture(scope="session")
def lcm_schema(kit_path: Path) -> XmlSchema:
    return kit_schema(kit_path, "schemas/ihe/ebRS/lcm.xsd")
