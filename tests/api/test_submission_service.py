"""The submission service speaks the domain: delivered / queued / refused with its problems / replayed, read from
the stored record (the API alone turns these into FHIR and HTTP). Real conversion, signing and store; the DMP is a
function returning real SOAP (tests/dmp_edge.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from facade.errors import XDS_ERROR_SYSTEM, FacadeError, Problem
from facade.fhir.request_body import RequestBody
from facade.soap.registry_response import RegistryError, ResponseStatus, Severity
from facade.submissions import Disposition, SubmissionService
from tests.dmp_edge import Handler, registry_answer, sending_runtime

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = (ROOT / "conformance/bundles/ldl-ses/pdf-discharge-letter.json").read_bytes()


@pytest.fixture
def service_for(tmp_path: Path, _pki):  # type: ignore[no-untyped-def]
    def make(handler: Handler) -> SubmissionService:
        runtime, _ = sending_runtime(tmp_path / "state", _pki, handler)
        return runtime.submissions()

    return make


def test_delivered_then_replayed_without_resending(service_for) -> None:  # type: ignore[no-untyped-def]
    service = service_for(registry_answer())
    first = service.submit(BUNDLE, actor="dpi-a", idempotency_key="k1")
    assert (first.disposition, first.replayed, first.warnings, first.problems) == (
        Disposition.DELIVERED,
        False,
        [],
        [],
    )
    again = service.submit(BUNDLE, actor="dpi-a", idempotency_key="k1")
    assert again.replayed and again.record.id == first.record.id and again.disposition is Disposition.DELIVERED


def test_delivered_with_the_registry_warnings_as_domain_issues(service_for) -> None:  # type: ignore[no-untyped-def]
    warning = RegistryError("XDSExtraMetadataNotSaved", "slot ignoré", severity=Severity.WARNING)
    result = service_for(registry_answer(warning, status=ResponseStatus.SUCCESS)).submit(BUNDLE, actor="dpi-a")
    assert result.disposition is Disposition.DELIVERED
    (issue,) = result.warnings
    assert issue.problem is Problem.XDS_WARNING and issue.message == "slot ignoré"
    assert issue.codings == ((XDS_ERROR_SYSTEM, "XDSExtraMetadataNotSaved"),)


def test_refused_by_the_registry_with_its_problems(service_for) -> None:  # type: ignore[no-untyped-def]
    error = RegistryError("XDSRegistryMetadataError", "classCode inconnu", location="DocumentEntry.classCode")
    result = service_for(registry_answer(error)).submit(BUNDLE, actor="dpi-a")
    assert result.disposition is Disposition.REFUSED and result.problem is Problem.XDS_METADATA_REJECTED
    (issue,) = result.problems
    assert (issue.problem, issue.message, issue.diagnostics) == (
        Problem.XDS_METADATA_REJECTED,
        "classCode inconnu",
        "DocumentEntry.classCode",
    )
    assert (XDS_ERROR_SYSTEM, "XDSRegistryMetadataError") in issue.codings


def test_queued_while_the_registry_is_busy(service_for) -> None:  # type: ignore[no-untyped-def]
    result = service_for(registry_answer(RegistryError("XDSRegistryBusy", "occupé"))).submit(BUNDLE, actor="dpi-a")
    assert result.disposition is Disposition.QUEUED and result.record.state.value == "failed"
    assert [i.problem for i in result.problems] == [Problem.XDS_TRANSIENT]


def test_respond_async_is_queued_without_an_attempt(service_for) -> None:  # type: ignore[no-untyped-def]
    result = service_for(registry_answer()).submit(BUNDLE, actor="dpi-a", respond_async=True)
    assert result.disposition is Disposition.QUEUED and result.record.attempts == 0 and result.problems == []


def test_another_clients_submission_is_not_found_unless_auditing(service_for) -> None:  # type: ignore[no-untyped-def]
    service = service_for(registry_answer())
    mine = service.submit(BUNDLE, actor="dpi-a").record.id
    assert service.status(mine, actor="dpi-a", sees_all=False).record.id == mine
    assert service.status(mine, actor="auditor", sees_all=True).disposition is Disposition.DELIVERED
    with pytest.raises(FacadeError) as hidden:
        service.status(mine, actor="dpi-b", sees_all=False)
    assert hidden.value.problem is Problem.NOT_FOUND


@pytest.mark.parametrize("owned", [False, True])
def test_a_refused_body_is_audited_with_the_type_it_declares(service_for, owned: bool) -> None:  # type: ignore[no-untyped-def]
    """The parser drops the bytes of a ``RequestBody``: the audit of a refusal still reads the type they declare."""
    service = service_for(registry_answer())
    bad = BUNDLE.replace(b'"status": "current"', b'"status": 1', 1)
    with pytest.raises(FacadeError):
        service.submit(RequestBody(bad) if owned else bad, actor="dpi-a")
    (entry,) = service.outbox.audit_between(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    assert entry.outcome == "fhir-structure" and entry.detail["type"] == "11490-0"
