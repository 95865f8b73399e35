"""Accepting a submission: convert, prepare, persist BEFORE sending, try once inline, answer from the record.

The answer is always derived from the stored record, so an idempotent replay, a status query and the first
answer say the same thing:
- delivered -> 200 transaction-response (one entry per request entry, in order; XDS warnings in the outcome)
- pending / sending / failed (retry scheduled) -> 202 Accepted + Content-Location of the status resource
- dead (permanent failure, or retry horizon exhausted) -> the stored OperationOutcome with its status
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from facade.api.outcomes import operation_outcome
from facade.errors import FacadeError, Issue, Problem
from facade.feeding import Feeder
from facade.outbox.audit import AuditEvent, patient_hash
from facade.outbox.record import NewSubmission, State, SubmissionStatus
from facade.outbox.relay import Relay
from facade.outbox.store import Outbox, client_idempotency_key, request_fingerprint
from facade.pipeline import Converter, require_valid


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class SubmissionService:
    def __init__(
        self,
        *,
        converter: Converter,
        feeder: Feeder,
        outbox: Outbox,
        relay: Relay,
        patient_secret: bytes,
        status_url: Callable[[str], str],  # submission id -> absolute URL of its status resource
        inline_wait_seconds: float = 30.0,  # how long an inline attempt taken by a background worker is awaited
    ) -> None:
        self.inline_wait_seconds = inline_wait_seconds
        self.converter = converter
        self.feeder = feeder
        self.outbox = outbox
        self.relay = relay
        self.patient_secret = patient_secret
        self.status_url = status_url

    def submit(
        self,
        body: bytes,
        *,
        actor: str,
        idempotency_key: str | None = None,
        respond_async: bool = False,
        request_id: str | None = None,
    ) -> Answer:
        fingerprint = request_fingerprint(body)
        key = client_idempotency_key(actor, idempotency_key) if idempotency_key else None
        if key is not None:
            existing = self.outbox.find_by_idempotency_key(key)
            if existing is not None and existing.fingerprint == fingerprint:
                return self.answer(existing)  # a client retry: same answer, nothing rebuilt or resent
        try:
            conversion = self.converter.convert(body)
            require_valid(conversion)
            prepared = self.feeder.prepare(conversion)
        except FacadeError as exc:  # refused before the outbox: still in the audit trail (who, when, why)
            self.outbox.append_audit(
                AuditEvent.REJECTED, actor=actor, outcome=exc.problem.spec.code, request_id=request_id
            )
            raise
        submission = conversion.mapping.submission
        unique_ids = tuple(d.request.document.id for d in conversion.documents)
        context = {
            "submission_unique_id": submission.unique_id,
            "entries": [asdict(e) for e in conversion.mapping.entries],
            "warnings": operation_outcome(conversion.all_issues()) if conversion.all_issues() else None,
        }
        result = self.outbox.enqueue(
            NewSubmission(
                # Without a client key the record is keyed by the request itself: an identical re-post is a replay,
                # while another request carrying an already-submitted document meets the store's document check (409).
                idempotency_key=key or client_idempotency_key(actor, f"request:{fingerprint}"),
                fingerprint=fingerprint,
                payload=prepared.to_payload(),
                document_unique_ids=unique_ids,
                patient_hash=patient_hash(
                    submission.patient.ins.value, submission.patient.ins.oid, self.patient_secret
                ),
                actor=actor,
                request_id=request_id,
                context=context,
            )
        )
        record: SubmissionStatus = result.record
        if result.created and not respond_async:
            if self.relay.process(record.id) is None:
                # a background worker claimed it first: wait for that attempt (bounded) rather than answer 202
                record = self._settled(record)
            refreshed = self.outbox.get(record.id)
            record = refreshed if refreshed is not None else record
        return self.answer(record)

    def _settled(self, record: SubmissionStatus) -> SubmissionStatus:
        deadline = time.monotonic() + self.inline_wait_seconds
        while time.monotonic() < deadline:
            current = self.outbox.get(record.id)
            if current is None or current.state not in (State.PENDING, State.SENDING):
                return current or record
            time.sleep(0.05)
        return record

    def answer(self, record: SubmissionStatus) -> Answer:
        location = self.status_url(record.id)
        if record.state is State.DELIVERED:
            return Answer(200, transaction_response(record), {"Content-Location": location})
        if record.state is State.DEAD and record.last_error is not None:
            details = record.last_error.details
            outcome = details.get("outcome") or operation_outcome(
                [Issue(Problem.INFORMATION, details={"text": record.last_error.message})]
            )
            return Answer(int(details.get("http_status", 502)), outcome, {"Content-Location": location})
        issues = [
            Issue(
                Problem.SUBMISSION_QUEUED,
                details={"state": _STATE_TEXT[record.state], "location": location},
                severity="information",
            )
        ]
        if record.last_error is not None:
            issues.append(
                Issue(
                    Problem.SUBMISSION_LAST_ERROR,
                    details={"code": record.last_error.code, "message": record.last_error.message},
                    severity="warning",
                    # the DMP's own codes (XDS errorCode, SOAP fault code) stay machine-readable while retrying
                    codings=_last_error_codings(record.last_error.details),
                )
            )
        return Answer(202, operation_outcome(issues), {"Content-Location": location, "Location": location})


_STATE_TEXT = {
    State.PENDING: "queued",
    State.SENDING: "in progress",
    State.FAILED: "waiting for a retry",
    State.DELIVERED: "done",
    State.DEAD: "abandoned",
}


def transaction_response(record: SubmissionStatus) -> dict[str, Any]:
    """MHD / PDSm ProvideDocumentBundleResponse: one entry per request entry, same order."""
    context = record.context
    response = record.response or {}
    warnings = response.get("warnings")
    entries: list[dict[str, Any]] = []
    for entry in context.get("entries", []):
        rtype = entry["resource_type"]
        rid = entry.get("unique_id") or _id_from_fullurl(entry.get("full_url")) or f"{record.id}-{entry['index']}"
        item: dict[str, Any] = {"status": "201 Created", "location": f"{rtype}/{rid}"}
        if rtype == "DocumentReference" and warnings:
            item["outcome"] = warnings  # XDS warnings travel with the document they concern
        if record.delivered_at is not None:
            item["lastModified"] = record.delivered_at.isoformat()
        entries.append({"response": item})
    if not entries:
        entries.append({"response": {"status": "201 Created", "location": f"DocumentReference/{record.id}"}})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


def _last_error_codings(details: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The (system, code) pairs of the stored failure's issues (``Failure.from_error``), without repeats."""
    pairs: dict[tuple[str, str], None] = {}
    for issue in details.get("issues") or ():
        for coding in issue.get("codings") or ():
            if isinstance(coding, list | tuple) and len(coding) == 2:
                pairs[(str(coding[0]), str(coding[1]))] = None
    return tuple(pairs)


def _id_from_fullurl(full_url: str | None) -> str | None:
    if not full_url:
        return None
    return full_url.rsplit(":", 1)[-1].rsplit("/", 1)[-1] or None
