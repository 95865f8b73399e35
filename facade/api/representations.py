"""FHIR representations of our results: the $preview Parameters, and (for feeding) transaction-response bundles."""

from __future__ import annotations

import base64
import json
from typing import Any

from lxml import etree

from facade.api.outcomes import operation_outcome
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
    if record.last_error is not None:
        task["statusReason"] = {"text": f"{record.last_error.code}: {record.last_error.message}"}
    return task
