"""One case per row of the XDS error table and of the SOAP fault table (architecture §7.5). The expectations are
written out here independently of the table, so a changed row fails a test."""

from __future__ import annotations

import pytest

from facade.errors import PROBLEM_SYSTEM, XDS_ERROR_SYSTEM, Problem, RemoteRejectionError
from facade.soap.envelope import SOAP12_NS, SoapFault, SoapResponse
from facade.soap.registry_response import RegistryError, RegistryResponse, ResponseStatus, Severity
from facade.xds import error_mapping as em

# errorCode -> (FHIR issue type, HTTP status, retryable, our problem code)
EXPECTED_XDS = {
    "XDSRegistryBusy": ("transient", 503, True, "xds-transient"),
    "XDSRepositoryBusy": ("transient", 503, True, "xds-transient"),
    "XDSRegistryOutOfResources": ("transient", 503, True, "xds-transient"),
    "XDSRepositoryOutOfResources": ("transient", 503, True, "xds-transient"),
    "XDSRegistryNotAvailable": ("transient", 503, True, "xds-transient"),
    "XDSRegistryMetadataError": ("invalid", 422, False, "xds-metadata-rejected"),
    "XDSRepositoryMetadataError": ("invalid", 422, False, "xds-metadata-rejected"),
    "XDSDocumentUniqueIdError": ("invalid", 422, False, "xds-metadata-rejected"),
    "XDSMissingDocument": ("required", 422, False, "xds-missing-content"),
    "XDSMissingDocumentMetadata": ("required", 422, False, "xds-missing-content"),
    "XDSUnknownPatientId": ("not-found", 422, False, "xds-unknown-patient"),
    "XDSPatientIdDoesNotMatch": ("business-rule", 422, False, "xds-business-rule"),
    "XDSRegistryDeprecatedDocumentError": ("business-rule", 422, False, "xds-business-rule"),
    "UnresolvedReferenceException": ("not-found", 422, False, "xds-unresolved-reference"),
    "XDSDuplicateUniqueIdInRegistry": ("duplicate", 409, False, "xds-duplicate-unique-id"),
    "XDSNonIdenticalHash": ("exception", 500, False, "xds-integrity"),
    "XDSNonIdenticalSize": ("exception", 500, False, "xds-integrity"),
    "XDSRegistryDuplicateUniqueIdInMessage": ("exception", 500, False, "xds-integrity"),
    "XDSRepositoryDuplicateUniqueIdInMessage": ("exception", 500, False, "xds-integrity"),
    "XDSRegistryError": ("exception", 502, False, "xds-registry-error"),
    "XDSRepositoryError": ("exception", 502, False, "xds-registry-error"),
    "XDSExtraMetadataNotSaved": ("informational", 200, False, "xds-warning"),
    "XDSStoredQueryParamNumber": ("exception", 502, False, "xds-registry-error"),
    "XDSUnknownStoredQuery": ("exception", 502, False, "xds-registry-error"),
    "XDSResultNotSinglePatient": ("exception", 502, False, "xds-registry-error"),
    "XDSTooManyResults": ("too-costly", 422, False, "dmp-too-many-results"),
    "DMPAccessDenied": ("forbidden", 403, False, "dmp-access-denied"),
    # ITI-57 (TD3.3a-d)
    "XDSMetadataVersionError": ("conflict", 409, False, "xds-update-conflict"),
    "XDSMetadataUpdateError": ("business-rule", 422, False, "xds-business-rule"),
    "XDSMetadataUpdateOperationError": ("invalid", 422, False, "xds-metadata-rejected"),
    "XDSMetadataIdentifierError": ("invalid", 422, False, "xds-metadata-rejected"),
}

# fault code or subcode -> (issue type, HTTP status, retryable, problem code)
EXPECTED_FAULTS = {
    "DMPInvalidCertificate": ("security", 502, False, "dmp-invalid-certificate"),
    "InvalidSecurity": ("security", 502, False, "vihf-rejected"),
    "InvalidSecurityToken": ("security", 502, False, "vihf-rejected"),
    "FailedAuthentication": ("security", 502, False, "vihf-rejected"),
    "FailedCheck": ("security", 502, False, "vihf-rejected"),
    "UnsupportedSecurityToken": ("security", 502, False, "vihf-rejected"),
    "UnsupportedAlgorithm": ("security", 502, False, "vihf-rejected"),
    "SecurityTokenUnavailable": ("security", 502, False, "vihf-rejected"),
    "MessageExpired": ("security", 502, True, "vihf-rejected"),
    "EndpointUnavailable": ("transient", 503, True, "soap-fault-receiver"),
    "Receiver": ("transient", 503, True, "soap-fault-receiver"),
    "Sender": ("exception", 502, False, "soap-fault"),
    "VersionMismatch": ("exception", 502, False, "soap-fault"),
    "MustUnderstand": ("exception", 502, False, "soap-fault"),
    "DataEncodingUnknown": ("exception", 502, False, "soap-fault"),
}


def test_the_tables_have_exactly_the_expected_rows() -> None:
    assert set(em.XDS_ERROR_TABLE) == set(EXPECTED_XDS)
    assert set(em.SOAP_FAULT_TABLE) == set(EXPECTED_FAULTS)


@pytest.mark.parametrize("error_code", sorted(EXPECTED_XDS))
def test_xds_error_row(error_code: str) -> None:
    issue_type, status, retryable, problem_code = EXPECTED_XDS[error_code]
    rule = em.rule_for(error_code)
    assert (rule.issue_type, rule.http_status, rule.retryable, rule.problem.spec.code) == (
        issue_type,
        status,
        retryable,
        problem_code,
    )
    error = RegistryError(error_code, f"context of {error_code}", "DocumentEntry01")
    [issue] = em.to_issues(RegistryResponse.failure(error))
    assert issue.problem is rule.problem
    assert issue.codings == ((XDS_ERROR_SYSTEM, error_code),)
    assert issue.message == f"context of {error_code}"  # codeContext is the text
    assert issue.diagnostics == "DocumentEntry01"  # location is the diagnostics
    assert em.is_retryable(RegistryResponse.failure(error)) is retryable


def test_default_row_keeps_the_original_code() -> None:
    rule = em.rule_for("DMPSomethingNobodyDocumented")
    assert (rule.issue_type, rule.http_status, rule.retryable) == ("exception", 502, False)
    [issue] = em.to_issues(RegistryResponse.failure(RegistryError("DMPSomethingNobodyDocumented", "?")))
    assert issue.problem is Problem.XDS_REGISTRY_ERROR
    assert issue.codings == ((XDS_ERROR_SYSTEM, "DMPSomethingNobodyDocumented"),)


def test_urn_style_codes_match_on_their_last_segment() -> None:
    assert (
        em.rule_for("urn:oasis:names:tc:ebxml-regrep:ErrorCode:UnresolvedReferenceException")
        is (em.XDS_ERROR_TABLE["UnresolvedReferenceException"])
    )


@pytest.mark.parametrize("name", sorted(EXPECTED_FAULTS))
def test_soap_fault_row(name: str) -> None:
    issue_type, status, retryable, problem_code = EXPECTED_FAULTS[name]
    # a row is reached as the fault Code (SOAP 1.2 codes) or as a subcode of a Sender fault (everything else)
    soap_codes = {"Receiver", "Sender", "VersionMismatch", "MustUnderstand", "DataEncodingUnknown"}
    fault = SoapFault(name, (), "why") if name in soap_codes else SoapFault("Sender", (name,), "why")
    rule = em.fault_rule(fault)
    assert (rule.issue_type, rule.http_status, rule.retryable, rule.problem.spec.code) == (
        issue_type,
        status,
        retryable,
        problem_code,
    )
    with pytest.raises(RemoteRejectionError) as info:
        em.check_response(SoapResponse(envelope=b"", fault=fault))
    assert info.value.retryable is retryable
    assert info.value.issues[0].problem.spec.code == problem_code


def test_unknown_fault_code_defaults_to_a_sender_fault() -> None:
    rule = em.fault_rule(SoapFault("Weird", ("AlsoUnknown",)))
    assert rule is em.DEFAULT_FAULT_RULE and not rule.retryable


def test_dmp_invalid_certificate_issue_carries_codes_reason_and_detail() -> None:
    fault = SoapFault(
        "Sender",
        ("DMPInvalidCertificate",),
        "Le certificat ayant signé le VIHF est invalide : Not a valid signature certificate",
        detail="d",
    )
    issue = em.fault_issue(fault)
    assert issue.problem is Problem.DMP_INVALID_CERTIFICATE
    assert issue.codings == ((SOAP12_NS, "Sender"), (SOAP12_NS, "DMPInvalidCertificate"))
    assert "Not a valid signature certificate" in issue.message
    assert issue.diagnostics == "d"


def test_success_returns_warnings_for_the_response_outcome() -> None:
    warning = RegistryError("XDSExtraMetadataNotSaved", "slot ignored", severity=Severity.WARNING)
    issues = em.check_response(SoapResponse(envelope=b"", registry_response=RegistryResponse.success((warning,))))
    assert [(i.problem, i.effective_severity) for i in issues] == [(Problem.XDS_WARNING, "warning")]


def test_success_with_an_error_entry_is_still_a_success() -> None:
    """The status says the documents are stored: never fail (and resend) a stored submission."""
    odd = RegistryResponse(ResponseStatus.SUCCESS, (RegistryError("XDSRegistryError", "odd"),))
    issues = em.check_response(SoapResponse(envelope=b"", registry_response=odd))
    assert [i.effective_severity for i in issues] == ["warning"]


def test_failure_raises_with_every_issue_and_the_http_status_of_the_worst() -> None:
    response = RegistryResponse.failure(
        RegistryError("XDSUnknownPatientId", "unknown INS"),
        RegistryError("XDSRegistryBusy", "busy"),
        RegistryError("XDSExtraMetadataNotSaved", "w", severity=Severity.WARNING),
    )
    with pytest.raises(RemoteRejectionError) as info:
        em.check_response(SoapResponse(envelope=b"", registry_response=response))
    error = info.value
    assert [i.problem for i in error.issues] == [
        Problem.XDS_UNKNOWN_PATIENT,
        Problem.XDS_TRANSIENT,
        Problem.XDS_WARNING,
    ]
    assert error.retryable is False  # one permanent error makes the answer final
    assert error.http_status == 503
    assert error.response.registry_response == response


def test_all_transient_errors_are_retryable() -> None:
    busy = RegistryResponse.failure(RegistryError("XDSRegistryBusy", "b"), RegistryError("XDSRepositoryBusy", "b"))
    with pytest.raises(RemoteRejectionError) as info:
        em.check_response(SoapResponse(envelope=b"", registry_response=busy))
    assert info.value.retryable is True


def test_failure_without_any_error_entry_is_still_an_error() -> None:
    empty = RegistryResponse(ResponseStatus.FAILURE)
    issues = em.to_issues(empty)
    assert [i.problem for i in issues] == [Problem.XDS_REGISTRY_ERROR]
    with pytest.raises(RemoteRejectionError):
        em.check_response(SoapResponse(envelope=b"", registry_response=empty))


def test_duplicate_detection_for_the_outbox() -> None:
    dup = RegistryResponse.failure(RegistryError("XDSDuplicateUniqueIdInRegistry", "1.2.3"))
    assert em.is_duplicate(dup)
    mixed = RegistryResponse.failure(
        RegistryError("XDSDuplicateUniqueIdInRegistry", "1.2.3"), RegistryError("XDSRegistryMetadataError", "x")
    )
    assert not em.is_duplicate(mixed)
    assert not em.is_duplicate(RegistryResponse.success())


def test_an_answer_to_another_message_is_refused() -> None:
    response = SoapResponse(envelope=b"", relates_to="urn:uuid:other", registry_response=RegistryResponse.success())
    with pytest.raises(RemoteRejectionError) as info:
        em.check_response(response, message_id="urn:uuid:mine")
    assert info.value.problem is Problem.SOAP_RESPONSE_INVALID
    assert em.check_response(response, message_id="urn:uuid:other") == []


def test_an_answer_without_registry_response_is_refused() -> None:
    with pytest.raises(RemoteRejectionError) as info:
        em.check_response(SoapResponse(envelope=b""))
    assert info.value.problem is Problem.SOAP_RESPONSE_INVALID and not info.value.retryable


def test_problem_codes_are_under_our_problem_system() -> None:
    # the API adds (PROBLEM_SYSTEM, problem code) itself; the table must not duplicate it in codings
    [issue] = em.to_issues(RegistryResponse.failure(RegistryError("XDSRegistryBusy", "b")))
    assert all(system != PROBLEM_SYSTEM for system, _ in issue.codings)


# per transaction: ITI-43 rows (errorCode -> HTTP status, problem code) and TD0.2 HL7v3 codes
EXPECTED_RETRIEVE = {
    "XDSDocumentUniqueIdError": (404, "dmp-document-not-found"),
    "XDSMissingDocument": (404, "dmp-document-not-found"),
    "XDSUnknownRepositoryId": (404, "dmp-document-not-found"),
}
EXPECTED_HL7V3 = {
    "AE": (502, "dmp-query-failed"),
    "AR": (422, "dmp-query-refused"),
    "QE": (422, "dmp-query-refused"),
    "DMPAccessDenied": (403, "dmp-access-denied"),
}


def test_the_per_transaction_tables_have_exactly_the_expected_rows() -> None:
    assert set(em.RETRIEVE_ERROR_TABLE) == set(EXPECTED_RETRIEVE)
    assert set(em.HL7V3_TABLE) == set(EXPECTED_HL7V3)


@pytest.mark.parametrize(("code", "expected"), sorted(EXPECTED_RETRIEVE.items()))
def test_retrieve_row(code: str, expected: tuple[int, str]) -> None:
    response = RegistryResponse(ResponseStatus.FAILURE, (RegistryError(code, "absent", "loc", Severity.ERROR),))
    issues = em.retrieve_issues(response)
    assert [(i.problem.spec.http_status, i.problem.spec.code) for i in issues] == [expected]
    assert (XDS_ERROR_SYSTEM, code) in issues[0].codings


@pytest.mark.parametrize(("code", "expected"), sorted(EXPECTED_HL7V3.items()))
def test_hl7v3_row(code: str, expected: tuple[int, str]) -> None:
    rule = em.HL7V3_TABLE[code]
    assert (rule.http_status, rule.problem.spec.code, rule.retryable) == (*expected, False)
