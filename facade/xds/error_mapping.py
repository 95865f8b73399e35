"""The ONE place where the DMP's answers become our Problems (architecture §7.5; spec §2.3, §8).

``XDS_ERROR_TABLE`` maps a RegistryError ``errorCode`` to a rule: Problem (which fixes the FHIR issue type and the
HTTP status) + retryable. ``SOAP_FAULT_TABLE`` does the same for SOAP 1.2 Fault codes and subcodes. Nothing else in
the code base turns an XDS code into an issue type (MobileAccessGateway's ``// TODO map error codes`` is the
anti-model). Each row has its own test case (tests/wire/test_error_mapping.py).

Every issue carries ``details.coding`` = (``XDS_ERROR_SYSTEM``, errorCode) besides our problem code; the message
(details.text) is the codeContext; ``diagnostics`` is the RegistryError ``location``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from lxml import etree

from facade.errors import XDS_ERROR_SYSTEM, Issue, Problem, RemoteRejectionError
from facade.soap.envelope import SOAP12_NS, SoapFault, SoapResponse
from facade.soap.registry_response import RegistryError, RegistryResponse

SOAP_FAULT_SYSTEM = SOAP12_NS  # details.coding system for SOAP 1.2 fault codes / subcodes


@dataclass(frozen=True)
class ErrorRule:
    """One row: what an errorCode (or fault code) means for the API and for the retry policy."""

    problem: Problem
    retryable: bool
    note: str = ""

    @property
    def issue_type(self) -> str:
        return self.problem.spec.issue_type

    @property
    def http_status(self) -> int:
        return self.problem.spec.http_status


_TRANSIENT = ErrorRule(Problem.XDS_TRANSIENT, True, "retry with backoff")
_METADATA = ErrorRule(Problem.XDS_METADATA_REJECTED, False)
_MISSING = ErrorRule(Problem.XDS_MISSING_CONTENT, False)
_INTEGRITY = ErrorRule(Problem.XDS_INTEGRITY, False, "our bug: the message contradicts itself")
_REGISTRY = ErrorRule(Problem.XDS_REGISTRY_ERROR, False, "the retry policy may choose to retry")

# errorCode -> rule. IHE ITI TF-3 Table 4.2.4.1-2 codes that ITI-41 can return, plus the ones DEHEMPE saw from the
# DMP (spec §8: XDSUnknownPatientId, XDSPatientIdDoesNotMatch, XDSDocumentUniqueIdError, XDSRegistryNotAvailable).
XDS_ERROR_TABLE: Mapping[str, ErrorRule] = MappingProxyType(
    {
        "XDSRegistryBusy": _TRANSIENT,
        "XDSRepositoryBusy": _TRANSIENT,
        "XDSRegistryOutOfResources": _TRANSIENT,
        "XDSRepositoryOutOfResources": _TRANSIENT,
        "XDSRegistryNotAvailable": _TRANSIENT,
        "XDSRegistryMetadataError": _METADATA,
        "XDSRepositoryMetadataError": _METADATA,
        # seen for a malformed uniqueId or an RPLC target that does not exist (submission context)
        "XDSDocumentUniqueIdError": _METADATA,
        "XDSMissingDocument": _MISSING,
        "XDSMissingDocumentMetadata": _MISSING,
        "XDSUnknownPatientId": ErrorRule(Problem.XDS_UNKNOWN_PATIENT, False),
        "XDSPatientIdDoesNotMatch": ErrorRule(Problem.XDS_BUSINESS_RULE, False),
        "XDSRegistryDeprecatedDocumentError": ErrorRule(Problem.XDS_BUSINESS_RULE, False, "RPLC of a deprecated doc"),
        "UnresolvedReferenceException": ErrorRule(Problem.XDS_UNRESOLVED_REFERENCE, False, "e.g. RPLC target"),
        "XDSDuplicateUniqueIdInRegistry": ErrorRule(
            Problem.XDS_DUPLICATE_UNIQUE_ID, False, "after an ambiguous attempt of ours: delivered (outbox decides)"
        ),
        "XDSNonIdenticalHash": _INTEGRITY,
        "XDSNonIdenticalSize": _INTEGRITY,
        "XDSRegistryDuplicateUniqueIdInMessage": _INTEGRITY,
        "XDSRepositoryDuplicateUniqueIdInMessage": _INTEGRITY,
        "XDSRegistryError": _REGISTRY,
        "XDSRepositoryError": _REGISTRY,
        # ITI-57 Update Document Set (IHE ITI TF-3 4.2.4.1): a concurrent version, an update the registry refuses
        "XDSMetadataVersionError": ErrorRule(Problem.XDS_UPDATE_CONFLICT, False, "ITI-57: re-read and retry"),
        "XDSMetadataUpdateError": ErrorRule(Problem.XDS_BUSINESS_RULE, False, "ITI-57: not applicable to this entry"),
        "XDSMetadataUpdateOperationError": _METADATA,
        "XDSMetadataIdentifierError": _METADATA,
        "XDSExtraMetadataNotSaved": ErrorRule(Problem.XDS_WARNING, False, "a warning: the submission was accepted"),
        # ITI-18 stored queries (IHE ITI TF-3 Table 4.2.4.1-2); the first three mean our query is wrong
        "XDSStoredQueryParamNumber": ErrorRule(Problem.XDS_REGISTRY_ERROR, False, "ITI-18: our query is wrong"),
        "XDSUnknownStoredQuery": ErrorRule(Problem.XDS_REGISTRY_ERROR, False, "ITI-18: query id not served"),
        "XDSResultNotSinglePatient": ErrorRule(Problem.XDS_REGISTRY_ERROR, False, "ITI-18: mixed patients"),
        "XDSTooManyResults": ErrorRule(Problem.DMP_TOO_MANY_RESULTS, False, "ITI-18: narrow the criteria"),
        # the DMP's rights matrix refused the transaction [UNCERTAIN: no DMP code found, pdsm4dmp §8]: the simulator's
        "DMPAccessDenied": ErrorRule(Problem.DMP_ACCESS_DENIED, False, "rights matrix (simulator code)"),
    }
)
DEFAULT_RULE = ErrorRule(Problem.XDS_REGISTRY_ERROR, False, "anything else: exception 502, original code kept")

# SOAP 1.2 Fault Code/Subcode local name -> rule. Subcodes are looked up first (innermost first), then the Code.
SOAP_FAULT_TABLE: Mapping[str, ErrorRule] = MappingProxyType(
    {
        # DMP (spec §8): VIHF signed with a certificate that is not a signature certificate. Never retried.
        "DMPInvalidCertificate": ErrorRule(Problem.DMP_INVALID_CERTIFICATE, False),
        # WS-Security 1.1 §12 fault codes: the VIHF / its signature / token refused
        "InvalidSecurity": ErrorRule(Problem.VIHF_REJECTED, False),
        "InvalidSecurityToken": ErrorRule(Problem.VIHF_REJECTED, False),
        "FailedAuthentication": ErrorRule(Problem.VIHF_REJECTED, False),
        "FailedCheck": ErrorRule(Problem.VIHF_REJECTED, False),
        "UnsupportedSecurityToken": ErrorRule(Problem.VIHF_REJECTED, False),
        "UnsupportedAlgorithm": ErrorRule(Problem.VIHF_REJECTED, False),
        "SecurityTokenUnavailable": ErrorRule(Problem.VIHF_REJECTED, False),
        "MessageExpired": ErrorRule(Problem.VIHF_REJECTED, True, "a fresh VIHF is built per attempt"),
        # WS-Addressing 1.0 SOAP binding §6.4
        "EndpointUnavailable": ErrorRule(Problem.SOAP_FAULT_RECEIVER, True),
        # SOAP 1.2 Part 1 §5.4.6 codes
        "Receiver": ErrorRule(Problem.SOAP_FAULT_RECEIVER, True, "the DMP failed: retry"),
        "Sender": ErrorRule(Problem.SOAP_FAULT, False, "our message is wrong: do not resend it"),
        "VersionMismatch": ErrorRule(Problem.SOAP_FAULT, False),
        "MustUnderstand": ErrorRule(Problem.SOAP_FAULT, False),
        "DataEncodingUnknown": ErrorRule(Problem.SOAP_FAULT, False),
    }
)
DEFAULT_FAULT_RULE = ErrorRule(Problem.SOAP_FAULT, False, "unknown fault code: treated as Sender")

DUPLICATE_ERROR_CODES = frozenset({"XDSDuplicateUniqueIdInRegistry"})


def rule_for(error_code: str) -> ErrorRule:
    """Table lookup; ``urn:...:UnresolvedReferenceException``-style codes are matched on their last segment."""
    code = error_code.strip()
    rule = XDS_ERROR_TABLE.get(code)
    if rule is None and ":" in code:
        rule = XDS_ERROR_TABLE.get(code.rpartition(":")[2])
    return rule or DEFAULT_RULE


def fault_rule(fault: SoapFault) -> ErrorRule:
    for name in (*reversed(fault.subcodes), fault.code):
        rule = SOAP_FAULT_TABLE.get(name)
        if rule is not None:
            return rule
    return DEFAULT_FAULT_RULE


def issue_for(error: RegistryError) -> Issue:
    rule = rule_for(error.error_code)
    return Issue(
        rule.problem,
        details={"error_code": error.error_code, "context": error.message or error.error_code},
        # the registry's severity decides (an Error-severity XDSExtraMetadataNotSaved still fails the submission)
        severity=None if error.is_error and rule.problem.spec.severity in ("error", "fatal") else _severity(error),
        codings=((XDS_ERROR_SYSTEM, error.error_code),) if error.error_code else (),
        diagnostics=error.location or None,
    )


def _severity(error: RegistryError) -> str:
    return "error" if error.is_error else "warning"


def to_issues(response: RegistryResponse) -> list[Issue]:
    """One Issue per RegistryError (warnings keep severity warning). A non-Success status without any error entry
    still yields one error issue, so a Failure can never look like a success."""
    issues = [issue_for(e) for e in response.errors]
    if not response.is_success and not any(i.is_error for i in issues):
        issues.append(
            Issue(
                DEFAULT_RULE.problem,
                details={"error_code": "", "context": f"RegistryResponse {response.status.value} without an error"},
            )
        )
    return issues


def fault_issue(fault: SoapFault) -> Issue:
    rule = fault_rule(fault)
    code = "/".join((fault.code, *fault.subcodes))
    return Issue(
        rule.problem,
        details={"code": code, "reason": fault.reason or "(no reason given)"},
        codings=tuple((SOAP_FAULT_SYSTEM, name) for name in (fault.code, *fault.subcodes)),
        diagnostics=fault.detail or None,
    )


def is_retryable(response: RegistryResponse) -> bool:
    """Retry only when every error-severity entry is retryable (one permanent error makes the whole answer final)."""
    errors = response.error_entries
    return bool(errors) and all(rule_for(e.error_code).retryable for e in errors)


def is_duplicate(response: RegistryResponse) -> bool:
    """Every error is XDSDuplicateUniqueIdInRegistry: after an ambiguous attempt of ours, the documents landed."""
    errors = response.error_entries
    return bool(errors) and all(e.error_code.strip().rpartition(":")[2] in DUPLICATE_ERROR_CODES for e in errors)


def check_response(response: SoapResponse, *, message_id: str | None = None) -> list[Issue]:
    """Success -> the warning issues (for ``entry.response.outcome``). Anything else -> RemoteRejectionError carrying
    the issues, ``retryable`` from the tables, and the response (``.response``) for the outbox (duplicate check)."""
    if response.fault is not None:
        rule = fault_rule(response.fault)
        issue = fault_issue(response.fault)
        raise RemoteRejectionError(rule.problem, issues=[issue], retryable=rule.retryable, response=response)
    if message_id and response.relates_to and response.relates_to != message_id:
        issue = Issue(
            Problem.SOAP_RESPONSE_INVALID,
            details={"reason": f"RelatesTo {response.relates_to} does not answer MessageID {message_id}"},
        )
        raise RemoteRejectionError(issue.problem, issues=[issue], retryable=False, response=response)
    reg = response.registry_response
    if reg is None:
        tag = response.payload.tag if response.payload is not None else "an empty Body"
        issue = Issue(Problem.SOAP_RESPONSE_INVALID, details={"reason": f"expected rs:RegistryResponse, got {tag}"})
        raise RemoteRejectionError(issue.problem, issues=[issue], retryable=False, response=response)
    issues = to_issues(reg)
    if reg.is_success:
        # the status is what the registry did: the documents are stored, so error-severity entries cannot fail it
        return [i if not i.is_error else replace(i, severity="warning") for i in issues]
    errors = [i for i in issues if i.is_error] or issues
    ordered = errors + [i for i in issues if i not in errors]
    raise RemoteRejectionError(errors[0].problem, issues=ordered, retryable=is_retryable(reg), response=response)


def check_soap_answer(response: SoapResponse, *, message_id: str | None = None) -> None:
    """The checks every DMP answer gets before its payload is read: a SOAP Fault (the fault table) and a RelatesTo
    that answers another message raise RemoteRejectionError."""
    if response.fault is not None:
        rule = fault_rule(response.fault)
        raise RemoteRejectionError(
            rule.problem, issues=[fault_issue(response.fault)], retryable=rule.retryable, response=response
        )
    if message_id and response.relates_to and response.relates_to != message_id:
        issue = Issue(
            Problem.SOAP_RESPONSE_INVALID,
            details={"reason": f"RelatesTo {response.relates_to} does not answer MessageID {message_id}"},
        )
        raise RemoteRejectionError(issue.problem, issues=[issue], retryable=False, response=response)


# --- per transaction: codes whose meaning depends on the question asked ---------------------------------------------

# ITI-43 (TD3.2): the IHE meaning of XDSDocumentUniqueIdError / XDSMissingDocument there is "no such document"
# (pdsm4dmp §3.4: unknown document -> 404), not a metadata error of ours as in a submission.
RETRIEVE_ERROR_TABLE: Mapping[str, ErrorRule] = MappingProxyType(
    {
        "XDSDocumentUniqueIdError": ErrorRule(Problem.DMP_DOCUMENT_NOT_FOUND, False),
        "XDSMissingDocument": ErrorRule(Problem.DMP_DOCUMENT_NOT_FOUND, False),
        "XDSUnknownRepositoryId": ErrorRule(Problem.DMP_DOCUMENT_NOT_FOUND, False, "FACADE_DMP__REPOSITORY_UNIQUE_ID"),
    }
)


def retrieve_issues(response: RegistryResponse) -> list[Issue]:
    """ITI-43 RegistryErrors: the retrieve rows first, then the common table."""
    issues = []
    for error in response.errors:
        rule = RETRIEVE_ERROR_TABLE.get(error.error_code.strip().rpartition(":")[2])
        issue = issue_for(error)
        issues.append(replace(issue, problem=rule.problem) if rule is not None and error.is_error else issue)
    return issues or to_issues(response)


# TD0.2 (HL7v3): acknowledgement/@typeCode and queryAck/queryResponseCode/@code (HL7 AcknowledgementType,
# QueryResponse). AA + OK (a DMP) or NF (no DMP [UNCERTAIN]) are answers; the rest is the DMP refusing or failing.
HL7V3_ACK_SYSTEM = "urn:oid:2.16.840.1.113883.5.18"
HL7V3_QUERY_RESPONSE_SYSTEM = "urn:oid:2.16.840.1.113883.5.1067"
HL7V3_DETAIL_SYSTEM = "urn:hl7-org:v3:acknowledgementDetail"  # a detail code without codeSystem
HL7V3_TABLE: Mapping[str, ErrorRule] = MappingProxyType(
    {
        "AE": ErrorRule(Problem.DMP_QUERY_FAILED, False, "application error"),
        "AR": ErrorRule(Problem.DMP_QUERY_REFUSED, False, "application reject: the message was refused"),
        "QE": ErrorRule(Problem.DMP_QUERY_REFUSED, False, "query parameter error"),
        # acknowledgementDetail/code, looked up first: the rights matrix refused TD0.2 (simulator code, as for XDS)
        "DMPAccessDenied": ErrorRule(Problem.DMP_ACCESS_DENIED, False, "rights matrix (simulator code)"),
    }
)
_H = "{urn:hl7-org:v3}"


def check_hl7v3_answer(payload: etree._Element | None, response: SoapResponse | None = None) -> None:
    """Raise RemoteRejectionError unless ``payload`` is an HL7v3 answer with acknowledgement AA (or none) and
    queryResponseCode OK or NF. The texts of acknowledgementDetail / detectedIssueEvent become the message."""
    if payload is None or etree.QName(payload).namespace != _H[1:-1]:
        tag = payload.tag if payload is not None else "an empty Body"
        issue = Issue(Problem.SOAP_RESPONSE_INVALID, details={"reason": f"expected an HL7v3 answer, got {tag}"})
        raise RemoteRejectionError(issue.problem, issues=[issue], retryable=False, response=response)
    ack = payload.find(f"{_H}acknowledgement")
    ack_code = ack.get("typeCode", "AA") if ack is not None else "AA"
    query = payload.find(f"{_H}controlActProcess/{_H}queryAck/{_H}queryResponseCode")
    query_code = query.get("code", "OK") if query is not None else "OK"
    # the query response code is the more precise of the two (AE + QE: the parameters were refused)
    bad = [(HL7V3_QUERY_RESPONSE_SYSTEM, query_code)] if query_code not in ("OK", "NF") else []
    bad += [(HL7V3_ACK_SYSTEM, ack_code)] if ack_code != "AA" else []
    if not bad:
        return
    texts = [(t.text or "").strip() for t in payload.iter(f"{_H}text") if (t.text or "").strip()]
    detail = payload.find(f".//{_H}acknowledgementDetail/{_H}code")
    detail_code = detail.get("code", "") if detail is not None else ""
    if detail_code:
        system = detail.get("codeSystem") if detail is not None else None
        bad.insert(0, (f"urn:oid:{system}" if system else HL7V3_DETAIL_SYSTEM, detail_code))
    codings = tuple(bad)
    rule = next((HL7V3_TABLE[c] for _, c in bad if c in HL7V3_TABLE), ErrorRule(Problem.DMP_QUERY_FAILED, False))
    context = "; ".join(texts) or f"acknowledgement {ack_code}, queryResponseCode {query_code}"
    issue = Issue(rule.problem, details={"context": context}, codings=codings)
    raise RemoteRejectionError(rule.problem, issues=[issue], retryable=False, response=response)
