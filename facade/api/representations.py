"""FHIR representations of our results: the $preview Parameters, and (for feeding) transaction-response bundles."""

from __future__ import annotations

import base64
import json
from typing import Any

from lxml import etree

from facade.api.outcomes import operation_outcome
from facade.errors import PROBLEM_SYSTEM
from facade.outbox.audit import AuditEntry
from facade.outbox.record import State, SubmissionStatus
from facade.pipeline import Conversion
from facade.submissions import Answer


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
    if record.state in (State.PENDING, State.FAILED):
        task["executionPeriod"] = {"start": record.created_at.isoformat()}
        task["restriction"] = {"period": {"start": record.next_attempt_at.isoformat()}}
    if record.last_error is not None and record.state is not State.DELIVERED:
        error = record.last_error
        codings = [{"system": PROBLEM_SYSTEM, "code": error.code}]
        for issue in error.details.get("issues", []):
            codings += [{"system": system, "code": code} for system, code in issue.get("codings", [])]
        task["statusReason"] = {"coding": codings, "text": f"{error.code}: {error.message}"}
    return task


_AUDIT_OUTCOME = {"delivered": "0", "enqueued": "0", "replayed": "0", "attempt": "0", "requeued": "0"}


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
    outcome = _AUDIT_OUTCOME.get(entry.event, "4" if entry.event == "retry-scheduled" else "8")
    return {
        "resourceType": "AuditEvent",
        "id": f"{entry.seq}",
        "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110106", "display": "Export"},
        "subtype": [{"system": "https://github.com/dmp-facade/dmp-facade/audit-event", "code": entry.event}],
        "action": "C",
        "recorded": entry.at.isoformat(),
        "outcome": outcome,
        "outcomeDesc": entry.outcome,
        "agent": [{"who": {"display": entry.actor}, "requestor": True}],
        "source": {"observer": {"display": "dmp-facade"}},
        "entity": entities,
    }


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
