"""Fixtures for the input side: a fixed facility, clock and OID factory, the packaged terminology, and helpers
that run a request (bytes or JSON) through parse_request + to_submission."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from facade.errors import FacadeError, Issue
from facade.fhir.parse import parse_request
from facade.fhir.validate import InputPolicy
from facade.ids import SequentialOids
from facade.mapping.bundle_to_submission import MappingResult, to_submission
from facade.model.document import BuildContext, Code, FacilitySettings
from facade.model.identifiers import INS_OIDS_TEST
from facade.terminology.tables import Terminology

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "conformance" / "bundles"
BAD = ROOT / "tests" / "data" / "bundles"
PARIS = timezone(timedelta(hours=1))
NOW = datetime(2026, 3, 2, 17, 50, 0, tzinfo=PARIS)

FACILITY = FacilitySettings(
    finess_ej="690000872",
    finess_eg="690000880",
    site_name="CH de Démonstration - Site de Lyon",
    source_id="1.2.250.1.999.1.1.7898",
    oid_root="1.2.250.1.999.1.9",
    sector=Code("SA01", "1.2.250.1.71.4.2.4", "Etablissement public de santé"),
    practice_setting=Code("ETABLISSEMENT", "1.2.250.1.213.1.1.4.9", "Etablissement de santé"),
    ipp_oid="1.2.250.1.999.1.2",
)
DEFAULT_CONTENT_TYPE = Code("07", "1.2.250.1.213.2.2", "Consultations, soins externes")
# the conformance bundles use the test INS OID (1.2.250.1.213.1.4.10): accepted only when configured
TEST_POLICY = InputPolicy(accepted_ins_oids=INS_OIDS_TEST, default_content_type=DEFAULT_CONTENT_TYPE)
PROD_POLICY = InputPolicy(default_content_type=DEFAULT_CONTENT_TYPE)


@pytest.fixture(scope="session")
def terminology() -> Terminology:
    return Terminology.load()


def make_ctx() -> BuildContext:
    return BuildContext(facility=FACILITY, now=NOW, new_oid=SequentialOids("1.2.250.1.999.1.9"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8-sig"))
    return data


Run = Callable[..., MappingResult]


@pytest.fixture
def run(terminology: Terminology) -> Run:
    """run(dict | bytes | Path, policy=TEST_POLICY) -> MappingResult (raises FacadeError)."""

    def _run(request: dict[str, Any] | bytes | Path, policy: InputPolicy = TEST_POLICY) -> MappingResult:
        if isinstance(request, Path):
            body = request.read_bytes()
        elif isinstance(request, bytes):
            body = request
        else:
            body = json.dumps(request).encode("utf-8")
        return to_submission(parse_request(body), make_ctx(), terminology, policy)

    return _run


Reject = Callable[..., FacadeError]


@pytest.fixture
def reject(run: Run) -> Reject:
    """reject(request, policy=...) -> the FacadeError raised (fails the test when nothing is raised)."""

    def _reject(request: dict[str, Any] | bytes | Path, policy: InputPolicy = TEST_POLICY) -> FacadeError:
        with pytest.raises(FacadeError) as info:
            run(request, policy)
        return info.value

    return _reject


def issue_keys(error: FacadeError) -> set[tuple[str, str | None]]:
    return {(i.problem.spec.code, i.expression) for i in error.issues}


def find(error: FacadeError, code: str, expression: str | None) -> Issue:
    for issue in error.issues:
        if issue.problem.spec.code == code and issue.expression == expression:
            return issue
    raise AssertionError(f"no issue {code} at {expression}; got {sorted(issue_keys(error), key=str)}")
