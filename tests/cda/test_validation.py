from __future__ import annotations

import threading
from pathlib import Path

import pytest

from facade.cda.render import CdaRenderer
from facade.cda.validation import CdaSchema, FullValidator
from facade.errors import Problem
from facade.runtime import Runtime
from facade.settings import Settings

from .model_samples import n1_document


def test_schema_is_compiled_once_per_process(kit_path: Path, cda_schema: CdaSchema) -> None:
    again = CdaSchema.from_kit(kit_path)
    assert again._schema is cda_schema._schema


def test_schema_issues_locate_xsd_errors(cda_schema: CdaSchema, bare_renderer: CdaRenderer) -> None:
    good = bare_renderer.render(n1_document())
    assert cda_schema.issues(good, "doc.xml") == []
    bad = good.replace(b"<realmCode", b"<bogus/><realmCode", 1)
    issues = cda_schema.issues(bad, "doc.xml")
    assert issues and all(i.problem is Problem.OUTPUT_XSD for i in issues)
    assert issues[0].details["line"] == 3 and "bogus" in issues[0].message
    (parse_issue,) = cda_schema.issues(b"<ClinicalDocument", "broken.xml")
    assert parse_issue.problem is Problem.OUTPUT_XSD and "broken.xml" in parse_issue.message
    (dtd_issue,) = cda_schema.issues(b"<!DOCTYPE x []><x/>", "dtd.xml")
    assert "DOCTYPE" in dtd_issue.message


@pytest.mark.conformance
def test_full_validator_reports_schematron_errors_and_warnings(
    full_validator: FullValidator, bare_renderer: CdaRenderer
) -> None:
    good = bare_renderer.render(n1_document())
    # an unknown civility (error, JDV_J245) and a streetAddressLine mixed with structured parts (warning)
    bad = (
        good.replace(b"<suffix>DR</suffix>", b"<prefix>PR</prefix>", 1)
        .replace(b"<streetName>28 avenue", b"<streetAddressLine>28 avenue", 1)
        .replace(b"de Breteuil</streetName>", b"de Breteuil</streetAddressLine>", 1)
    )
    issues = full_validator.issues(bad, "bad.xml")
    errors = [i for i in issues if i.is_error]
    warnings = [i for i in issues if not i.is_error]
    assert errors and all(i.problem is Problem.OUTPUT_SCHEMATRON for i in errors)
    assert any("J245" in i.message for i in errors)
    assert all(i.details["schematron"] == "ASIP-STRUCT-MIN-StrucMin.sch" for i in errors)
    assert warnings and all(i.problem is Problem.OUTPUT_SCHEMATRON_WARNING for i in warnings)
    assert any("recordTarget" in (i.diagnostics or "") for i in warnings)


@pytest.mark.conformance
def test_full_validator_checks_ebrim_messages_by_xsd(full_validator: FullValidator) -> None:
    from tests.cda.golden_files import GOLDEN

    data = (GOLDEN / "xds" / "submit_objects_request.xml").read_bytes()
    assert full_validator.issues(data, "metadata.xml") == []
    broken = data.replace(b' classifiedObject="SubmissionSet01" id="cl01"', b' id="cl01"', 1)
    issues = full_validator.issues(broken, "metadata.xml")
    assert issues and issues[0].problem is Problem.OUTPUT_XSD and "classifiedObject" in issues[0].message


def _warm_up_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "schematron-warm-up"]


def test_schematrons_are_not_warmed_unless_configured(kit_path: Path, tmp_path: Path) -> None:
    runtime = Runtime(Settings(environment="development", state_dir=tmp_path, validation_kit=kit_path))
    runtime.start()
    try:
        assert _warm_up_threads() == []
    finally:
        runtime.stop()


@pytest.mark.conformance
def test_start_up_compiles_the_full_validation_schematrons_in_the_background(kit_path: Path, tmp_path: Path) -> None:
    settings = Settings(environment="development", state_dir=tmp_path, validation_kit=kit_path, validation_warm_up=True)
    runtime = Runtime(settings)
    runtime.start()
    try:
        (thread,) = _warm_up_threads()
        thread.join(timeout=600)
        validator = runtime.converter.full_validator
        assert validator is not None
        compiled = " ".join(validator._validator._exec)
        assert "StrucMin" in compiled and "CR-BIO" in compiled
    finally:
        runtime.stop()
