"""FHIR representations of our results, with their HTTP status: the one place that turns the services' domain
results into FHIR resources: $preview Parameters, the answers to a submission (transaction-response, ITI-105
created, 202 queued, the refusal's OperationOutcome), the submission Task, AuditEvents and search sets."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from lxml import etree

from facade.errors import PROBLEM_SYSTEM, Issue, Problem, http_status_of
from facade.mapping.versioning import IDENTIFIER_TYPE_SYSTEM, SET_ID_TYPE
from facade.outbox.audit import AuditEntry
from facade.outbox.record import State, SubmissionStatus
from facade.outbox.registry import Availability, RegisteredDocument
from facade.outcomes import operation_outcome
from facade.pipeline import Conversion
from facade.submissions import Disposition, SubmissionResult


@dataclass(frozen=True)
class Answer:
    """An HTTP answer with a FHIR body."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def preview_parameters(conversion: Conversion) -> dict[str, Any]:
    metadata = etree.tostring(conversion.metadata(), encoding="unicode")
    fullurls = {d.document.id: d.fhir_fullurl for d in conversion.mapping.submission.documents}
    parameters: list[dict[str, Any]] = []
    for doc in conversion.documents:
        uid = doc.request.document.id
        parts: list[dict[str, Any]] = []
        if fullurls.get(uid):
            parts.append({"name": "entry", "valueUri": fullurls[uid]})
        parts += [
            {"name": "uniqueId", "valueString": uid},
            {"name": "cda", "valueBase64Binary": base64.b64encode(doc.cda).decode("ascii")},
            {"name": "metadata", "valueString": metadata},
            {"name": "outcome", "resource": operation_outcome(conversion.by_document.get(uid, ()))},
        ]
        parameters.append({"name": "document", "part": parts})
    parameters.append({"name": "outcome", "resource": operation_outcome(conversion.all_issues())})
    return {"resourceType": "Parameters", "parameter": parameters}


_TASK_STATUS = {
    State.PENDING: "requested",
    State.SENDING: "in-progress",
    State.FAILED: "in-progress",  # a retry is scheduled (businessStatus says so)
    State.DELIVERED: "completed",
    State.DEAD: "failed",
}


def submission_task(record: SubmissionStatus, answer: Answer) -> dict[str, Any]:
    """The status resource of a submission: a FHIR Task whose output holds what the POST would answer now."""
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": record.id,
        "status": _TASK_STATUS[record.state],
        "businessStatus": {"text": record.state.value},
        "intent": "order",
        "code": {"text": "DMP TD2.1 feeding (IHE XDS.b ITI-41)"},
        "authoredOn": record.created_at.isoformat(),
        "lastModified": record.updated_at.isoformat(),
        "identifier": [
            {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{uid}"} for uid in record.document_unique_ids
        ],
        "input": [{"type": {"text": "attempts"}, "valueInteger": record.attempts}],
        "output": [{"type": {"text": f"response ({answer.status})"}, "valueString": json.dumps(answer.body)}],
    }
    if record.traceparent:  # the W3C trace of the request that created it: its ITI-41 requests are child spans
        trace_type = {"coding": [_BALP_TRACEPARENT], "text": "traceparent"}  # input.type is a CodeableConcept
        task["input"].append({"type": trace_type, "valueString": record.traceparent})
    if record.state in (State.PENDING, State.FAILED):
        task["executionPeriod"] = {"start": record.created_at.isoformat()}
        task["restriction"] = {"period": {"start": record.next_attempt_at.isoformat()}}
    if record.last_error is not None and record.state is not State.DELIVERED:
        error = record.last_error
        codings = [{"system": PROBLEM_SYSTEM, "code": error.code}]
        for issue in error.issues:
            codings += [{"system": system, "code": code} for system, code in issue.codings]
        task["statusReason"] = {"coding": codings, "text": f"{error.code}: {error.message}"}
    return task


def status_location(base_url: str, submission_id: str) -> str:
    return f"{base_url}/Task/{submission_id}"


def submission_answer(result: SubmissionResult, base_url: str) -> Answer:
    """ITI-65 (and the status Task's output): what the POST answers for this result, now."""
    record = result.record
    location = status_location(base_url, record.id)
    if result.disposition is Disposition.DELIVERED:
        return Answer(200, transaction_response(record, result.warnings), {"Content-Location": location})
    if result.disposition is Disposition.REFUSED and record.last_error is not None:
        issues = result.problems
        if issues:
            status = http_status_of(result.problem, issues)
        else:  # a failure stored without issues (e.g. an unexpected error in the relay)
            status, issues = 502, [Issue(Problem.INFORMATION, details={"text": record.last_error.message})]
        return Answer(status, operation_outcome(issues), {"Content-Location": location})
    return Answer(
        202, operation_outcome(_queued_issues(result, location)), {"Content-Location": location, "Location": location}
    )


def published_answer(result: SubmissionResult, base_url: str) -> Answer:
    """ITI-105 is a FHIR create: once delivered, 201 + Location of the DocumentReference (``GET`` resolves it)."""
    answer = submission_answer(result, base_url)
    if result.disposition is not Disposition.DELIVERED:
        return answer
    created = next((e["response"]["location"] for e in answer.body["entry"] if "location" in e["response"]), None)
    headers = {**answer.headers, **({"Location": f"{base_url}/{created}"} if created else {})}
    text = f"Created {created}: delivered to the DMP"
    return Answer(201, operation_outcome([Issue(Problem.INFORMATION, details={"text": text})]), headers)


_STATE_TEXT = {
    State.PENDING: "queued",
    State.SENDING: "in progress",
    State.FAILED: "waiting for a retry",
    State.DELIVERED: "done",
    State.DEAD: "abandoned",
}


def _queued_issues(result: SubmissionResult, location: str) -> list[Issue]:
    record = result.record
    issues = [
        Issue(
            Problem.SUBMISSION_QUEUED,
            details={"state": _STATE_TEXT[record.state], "location": location},
            severity="information",
        )
    ]
    if record.last_error is not None:
        # the DMP's own codes (XDS errorCode, SOAP fault code) stay machine-readable while retrying
        codings = dict.fromkeys(c for issue in result.problems for c in issue.codings)
        issues.append(
            Issue(
                Problem.SUBMISSION_LAST_ERROR,
                details={"code": record.last_error.code, "message": record.last_error.message},
                severity="warning",
                codings=tuple(codings),
            )
        )
    return issues


def transaction_response(record: SubmissionStatus, warnings: list[Issue]) -> dict[str, Any]:
    """MHD / PDSm ProvideDocumentBundleResponse: one entry per request entry, same order. Only a DocumentReference
    gets a ``location`` (``DocumentReference/<entryUUID's UUID>``, which ``GET`` resolves): the SubmissionSet and the
    content were created in the DMP (201, not served here); the replacement PATCH is done by the RPLC (200);
    resources the facade only read (Patient, Practitioner, Organization, Consent...) are answered 200."""
    outcome = operation_outcome(warnings) if warnings else None
    entries: list[dict[str, Any]] = []
    uuids: dict[str, str] = record.context.get("entry_uuids") or {}  # absent from records older than the registry
    for entry in record.context.get("entries", []):
        rtype = entry["resource_type"]
        item: dict[str, Any] = {"status": "200 OK"}
        if rtype == "DocumentReference" and entry.get("role", "document") == "document":
            uid = entry.get("unique_id")
            rid = uuids[uid].removeprefix("urn:uuid:") if uid in uuids else uid
            item = {"status": "201 Created", "location": f"DocumentReference/{rid}"}
            if outcome:
                item["outcome"] = outcome  # XDS warnings travel with the document they concern
        elif entry.get("role") in ("submission-set", "content"):
            item["status"] = "201 Created"
        if record.delivered_at is not None:
            item["lastModified"] = record.delivered_at.isoformat()
        entries.append({"response": item})
    if not entries:
        entries.append({"response": {"status": "201 Created"}})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


# IHE BALP entity types (https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType): XrequestId is
# published; Traceparent is the code eHealth Suisse's trace-context page uses for the same purpose.
_BALP_ENTITY_TYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
_BALP_REQUEST_ID = {"system": _BALP_ENTITY_TYPE, "code": "XrequestId"}
_BALP_TRACEPARENT = {"system": _BALP_ENTITY_TYPE, "code": "Traceparent"}
_AUDIT_OUTCOME = {"delivered": "0", "enqueued": "0", "replayed": "0", "attempt": "0", "requeued": "0"}
_DMP_UPDATES = ("dmp-visibility", "dmp-archive", "dmp-unarchive", "dmp-delete")  # facade/dmp/update.py (ITI-57 done)


def audit_event(entry: AuditEntry) -> dict[str, Any]:
    """One audit entry as a FHIR R4 AuditEvent (DICOM "Export"); the patient appears only as a keyed hash."""
    entities: list[dict[str, Any]] = []
    if entry.submission_id:
        entities.append({"what": {"identifier": {"value": entry.submission_id}}, "description": "submission"})
    for uid in entry.document_unique_ids:
        entities.append({"what": {"identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{uid}"}}})
    if entry.patient_hash:
        entities.append(
            {
                "what": {"identifier": {"value": entry.patient_hash}},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
                "description": "patient (keyed hash of the INS)",
            }
        )
    if entry.request_id:
        entities.append({"what": {"identifier": {"value": entry.request_id}}, "type": _BALP_REQUEST_ID})
    if entry.traceparent:  # as eHealth Suisse (CH EPR) writes it: BALP entity type "Traceparent"
        entities.append({"what": {"identifier": {"value": entry.traceparent}}, "type": _BALP_TRACEPARENT})
    outcome = (
        "0"
        if entry.event in _DMP_UPDATES
        else _AUDIT_OUTCOME.get(entry.event, "4" if entry.event == "retry-scheduled" else "8")
    )
    return {
        "resourceType": "AuditEvent",
        "id": f"{entry.seq}",
        "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110106", "display": "Export"},
        "subtype": [{"system": "https://github.com/dmp-facade/dmp-facade/audit-event", "code": entry.event}],
        "action": "U" if entry.event in _DMP_UPDATES else "C",
        "recorded": entry.at.isoformat(),
        "outcome": outcome,
        "outcomeDesc": entry.outcome,
        "agent": [{"who": {"display": entry.actor}, "requestor": True}],
        "source": {"observer": {"display": "dmp-facade"}},
        "entity": entities,
    }


_DOC_STATUS = {
    Availability.APPROVED: "current",
    Availability.ARCHIVED: "current",  # archived is still current in the DMP (PDSm: + pdsm-ext-is-archived)
    Availability.DEPRECATED: "superseded",
    Availability.DELETED: "entered-in-error",
}
V3_CONFIDENTIALITY = ("2.16.840.1.113883.5.25", "http://terminology.hl7.org/CodeSystem/v3-Confidentiality")
IS_ARCHIVED = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"
DELIVERY_TAGS = "https://github.com/dmp-facade/dmp-facade/delivery-state"


def _system(oid: str) -> str:
    return V3_CONFIDENTIALITY[1] if oid == V3_CONFIDENTIALITY[0] else f"urn:oid:{oid}"


def document_reference(doc: RegisteredDocument, base_url: str) -> dict[str, Any]:
    """A document the facade accepted, as the facade knows it (its registry): id = the entryUUID's UUID;
    ``meta.tag`` says where its delivery stands (the submission's state; its Task is ``Task/<submission>``)."""
    uuid = doc.entry_uuid.removeprefix("urn:uuid:")
    system, code, display = doc.type_code
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": uuid,
        "meta": {
            "versionId": str(doc.version),
            "tag": [{"system": DELIVERY_TAGS, "code": doc.submission_state}],
        },
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{doc.unique_id}"},
        "identifier": [
            {"use": "official", "system": "urn:ietf:rfc:3986", "value": doc.entry_uuid},
            {
                "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": SET_ID_TYPE}]},
                "system": "urn:ietf:rfc:3986",
                "value": f"urn:oid:{doc.set_id}",
            },
        ],
        "status": _DOC_STATUS[doc.availability],
        "type": {"coding": [{"system": _system(system), "code": code, "display": display}]},
        "securityLabel": [
            {"coding": [{"system": _system(s), "code": c, "display": d}]} for s, c, d in doc.confidentiality
        ],
        "description": doc.title,
        "content": [
            {
                "attachment": {
                    "contentType": doc.mime_type,
                    "size": doc.size,
                    "hash": base64.b64encode(bytes.fromhex(doc.sha1_hex)).decode("ascii"),
                }
            }
        ],
        "context": {"related": [{"reference": f"{base_url}/Task/{doc.submission_id}"}]},
    }
    if doc.availability is Availability.ARCHIVED:
        resource["extension"] = [{"url": IS_ARCHIVED, "valueBoolean": True}]
    if doc.replaces_entry_uuid:
        target: dict[str, Any] = {"reference": f"DocumentReference/{doc.replaces_entry_uuid.removeprefix('urn:uuid:')}"}
        if doc.replaces_unique_id:
            target["identifier"] = {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{doc.replaces_unique_id}"}
        resource["relatesTo"] = [{"code": "replaces", "target": target}]
    return resource


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
