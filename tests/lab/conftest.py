"""Lab (CR-BIO) fixtures: the catalogue, a facility, a fixed clock and OIDs, the example bundles of
conformance/bundles/cr-bio/, and a builder of CR-BIO documents straight from the model (no DocumentReference
mapping needed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from facade.cda.render import DEFAULT_TEMPLATES_DIR, CdaRenderer
from facade.cda.validation import CdaSchema
from facade.errors import ValidationReport
from facade.fhir.parse import ParsedRequest, parse_request
from facade.fhir.references import ReferenceResolver
from facade.fhir.validate import InputPolicy
from facade.ids import SequentialOids
from facade.mapping.context import MappingContext
from facade.model.document import (
    BuildContext,
    Code,
    DocumentRequest,
    FacilitySettings,
    Ins,
    InstanceId,
    Patient,
)
from facade.model.identifiers import INS_OIDS_TEST
from facade.terminology.catalogue import Catalogue
from facade.terminology.tables import Terminology
from tests.cda.golden_files import Validate, check_golden

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = ROOT / "conformance" / "bundles" / "cr-bio"
PARIS = timezone(timedelta(hours=1))


FACILITY = FacilitySettings(
    finess_ej="750712176",
    finess_eg="750712184",
    site_name="CH de Démonstration",
    source_id="1.2.250.1.999.1.1.7898",
    oid_root="1.2.250.1.999.1.1.4",
    sector=Code("SA01", "1.2.250.1.71.4.2.4", "Etablissement public de santé"),
    practice_setting=Code("ETABLISSEMENT", "1.2.250.1.213.1.1.4.9", "Etablissement de santé"),
    ipp_oid="1.2.250.1.999.1.1.1",
)
NOW = datetime(2024, 1, 4, 16, 30, tzinfo=PARIS)
LAB_POLICY = InputPolicy(accepted_ins_oids=INS_OIDS_TEST)


def load_bundle(name: str) -> ParsedRequest:
    return parse_request((BUNDLES / name).read_bytes())


def bundle_from(data: dict[str, Any]) -> ParsedRequest:
    return parse_request(json.dumps(data).encode("utf-8"))


def context_for(parsed: ParsedRequest, ctx: BuildContext | None = None) -> MappingContext:
    """The MappingContext the submission mapping gives the lab mapping: one resolver, one report."""
    ctx = ctx or BuildContext(facility=FACILITY, now=NOW, new_oid=SequentialOids())
    return MappingContext(ctx, Terminology.load(), LAB_POLICY, ReferenceResolver(parsed), ValidationReport())


def raw_bundle(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((BUNDLES / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return Catalogue.load()


@pytest.fixture
def facility() -> FacilitySettings:
    return FACILITY


@pytest.fixture
def ctx(facility: FacilitySettings) -> BuildContext:
    return BuildContext(facility=facility, now=NOW, new_oid=SequentialOids())


@pytest.fixture
def patient() -> Patient:
    """The Patient of the example bundles, as H1's mapping produces it."""
    return Patient(
        ins=Ins("279035121518989", "1.2.250.1.213.1.4.10"),
        local_ids=(InstanceId("1.2.250.1.999.1.1.1", "1234567890121"),),
        birth_family_name="PAT-TROIS",
        birth_given_names=("DOMINIQUE", "MARIE-LOUISE"),
        first_birth_given_name="DOMINIQUE",
        gender="F",
        birth_time="19790328",
        birthplace_cog="51215",
        birthplace_city="DOMPREMY",
    )


LabDocumentBuilder = Callable[..., tuple[DocumentRequest | None, ValidationReport]]


@pytest.fixture
def lab_document(ctx: BuildContext, catalogue: Catalogue, patient: Patient) -> LabDocumentBuilder:
    """bundle -> (DocumentRequest | None, ValidationReport) through lab_document_from_report."""
    from facade.mapping.lab import lab_document_from_report

    def build(parsed: ParsedRequest, **kwargs: Any) -> tuple[DocumentRequest | None, ValidationReport]:
        mc = context_for(parsed, ctx)
        request = lab_document_from_report(
            mc,
            catalogue=catalogue,
            patient=patient,
            source_patient_id="1234567890121^^^&1.2.250.1.999.1.1.1&ISO^PI",
            **kwargs,
        )
        return request, mc.report

    return build


@pytest.fixture(scope="session")
def lab_renderer(kit_path: Path) -> CdaRenderer:
    return CdaRenderer(DEFAULT_TEMPLATES_DIR, CdaSchema.from_kit(kit_path))


@pytest.fixture(scope="session")
def bare_lab_renderer() -> CdaRenderer:
    return CdaRenderer(DEFAULT_TEMPLATES_DIR)


def compare_golden(name: str, data: bytes, validate: Validate) -> None:
    """tests/golden/cr-bio/<name>: valid, then equal to ``data`` (the shared helper; FACADE_REGEN_GOLDEN=1 rewrites
    it after validation)."""
    check_golden(f"cr-bio/{name}", data, validate)
