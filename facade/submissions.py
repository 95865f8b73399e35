"""Accepting a submission: convert, prepare, persist BEFORE sending, try once inline, report from the record.

The service speaks the domain: ``submit`` returns a ``SubmissionResult`` read from the stored record, so an
idempotent replay, a status query and the first answer say the same thing. What a result means in FHIR and HTTP
(transaction-response, 202 + status location, OperationOutcome) is ``facade.api.representations``' business:
- delivered -> the DMP accepted the documents (its warnings kept)
- queued -> pending / sending / failed with a retry scheduled: delivery goes on in the background
- refused -> dead (permanent failure, or retry horizon exhausted), with the Problems that refused it
Invalid input is refused before anything is stored: ``submit`` raises the FacadeError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from facade.errors import FacadeError, Issue, Problem
from facade.feeding import Feeder
from facade.fhir.request_body import RequestBody
from facade.mapping.replacement import Lookup, completed_request
from facade.mapping.versioning import UUID
from facade.metrics import Metrics
from facade.model.identifiers import oid_from_urn
from facade.outbox.audit import AuditEntry, AuditEvent, patient_hash
from facade.outbox.keys import client_idempotency_key, request_fingerprint
from facade.outbox.record import (
    NewSubmission,
    OutboxRecord,
    Payload,
    State,
    SubmissionStatus,
    delivered_warnings,
    issue_to_json,
)
from facade.outbox.registry import RegisteredDocument
from facade.outbox.relay import Relay
from facade.outbox.store import Outbox
from facade.pipeline import Conversion, Converter, require_valid
from facade.registration import check_replacements, meaning_fingerprint, refusal_detail, registry_entries


class Disposition(StrEnum):
    DELIVERED = "delivered"
    QUEUED = "queued"
    REFUSED = "refused"


_DISPOSITION = {
    State.PENDING: Disposition.QUEUED,
    State.SENDING: Disposition.QUEUED,
    State.FAILED: Disposition.QUEUED,
    State.DELIVERED: Disposition.DELIVERED,
    State.DEAD: Disposition.REFUSED,
}


@dataclass(frozen=True)
class SubmissionResult:
    """Where a submission stands, read from its record. ``replayed``: an idempotent replay of a request already
    accepted (nothing rebuilt or resent)."""

    record: SubmissionStatus
    replayed: bool = False

    @property
    def disposition(self) -> Disposition:
        return _DISPOSITION[self.record.state]

    @property
    def warnings(self) -> list[Issue]:
        """Delivered: the DMP's warnings (XDS codes kept as codings)."""
        return delivered_warnings(self.record.response) if self.record.state is State.DELIVERED else []

    @property
    def problem(self) -> Problem:
        """Refused: the problem that decided (the stored failure's code; ``information`` if it is unknown)."""
        error = self.record.last_error
        return (error.problem if error is not None else None) or Problem.INFORMATION

    @property
    def problems(self) -> list[Issue]:
        """Refused or queued after a failed attempt: the issues of the last failure (empty when it stored none)."""
        error = self.record.last_error
        return error.issues if error is not None and self.record.state is not State.DELIVERED else []


def document_types(conversion: Conversion) -> tuple[str, ...]:
    """The typeCode (LOINC code) of each document, in order."""
    return tuple(d.request.document.type_code.code for d in conversion.documents)


def subject_expression(conversion: Conversion) -> str:
    """Where the request names the patient: the first document's subject (in a bundle, its entry's)."""
    entries = conversion.mapping.entries
    doc = next((e for e in entries if e.role == "document"), None)
    if doc is None or not any(e.role == "submission-set" for e in entries):
        return f"{doc.resource_type if doc else 'DocumentReference'}.subject"
    return f"Bundle.entry[{doc.index}].resource.subject"


@dataclass(frozen=True)
class Accepted:
    """A stored submission (or the record a replay found). ``payload``: the inline attempt is due, leased to this
    service's relay in the enqueue transaction."""

    record: SubmissionStatus
    replayed: bool = False
    payload: Payload | None = None


class SubmissionService:
    def __init__(
        self,
        *,
        converter: Converter,
        feeder: Feeder,
        outbox: Outbox,
        relay: Relay,
        patient_secret: bytes,
        metrics: Metrics | None = None,
        replaced_lookup: Callable[[bytes], Lookup] | None = None,  # per request; default: the facade's registry
        # (INS, INS OID, FHIRPath of the subject): may refuse before the outbox (TD0.2 before feeding)
        precheck: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.metrics = metrics
        self.replaced_lookup = replaced_lookup
        self.precheck = precheck
        self.converter = converter
        self.feeder = feeder
        self.outbox = outbox
        self.relay = relay
        self.patient_secret = patient_secret

    def submit(
        self,
        body: bytes | RequestBody,
        *,
        actor: str,
        idempotency_key: str | None = None,
        respond_async: bool = False,
        request_id: str | None = None,
        traceparent: str | None = None,
    ) -> SubmissionResult:
        """``accept`` then ``attempt``: stored, then tried once inline unless ``respond_async``."""
        accepted = self.accept(
            body, actor=actor, idempotency_key=idempotency_key, respond_async=respond_async, request_id=request_id,
            traceparent=traceparent,
        )  # fmt: skip
        return self.attempt(accepted)

    def accept(
        self,
        body: bytes | RequestBody,
        *,
        actor: str,
        idempotency_key: str | None = None,
        respond_async: bool = False,
        request_id: str | None = None,
        traceparent: str | None = None,
    ) -> Accepted:
        """Convert, sign and store (or recognise a replay). The body is not needed after this: a caller that
        drops it before ``attempt`` keeps a large request out of memory during the send. ``traceparent``: the
        request's span (W3C), kept on the record and the audit trail; every ITI-41 attempt is sent as its child.
        A ``RequestBody`` (what the API passes) is emptied by the parser: no frame keeps the bytes through the
        conversion."""
        body = RequestBody.of(body)
        fingerprint = request_fingerprint(body.data)
        key = client_idempotency_key(actor, idempotency_key) if idempotency_key else None
        existing = self.outbox.find_by_idempotency_key(key) if key is not None else None
        if existing is None or existing.fingerprint != fingerprint:
            # the same bytes from the same client, with or without (or under another) key: a retry (issue 14 #2)
            existing = self.outbox.find_by_fingerprint(actor, fingerprint)
        if existing is not None:
            self.outbox.append_audit(
                AuditEvent.REPLAYED, actor=actor, outcome=existing.state.value, submission_id=existing.id,
                patient_hash=existing.patient_hash, document_unique_ids=existing.document_unique_ids,
                request_id=request_id, traceparent=traceparent,
            )  # fmt: skip
            return Accepted(existing, replayed=True)  # a client retry: nothing rebuilt or resent
        started = time.perf_counter()
        new, types = self._new_submission(body, actor=actor, key=key, fingerprint=fingerprint, request_id=request_id,
                                          traceparent=traceparent)  # fmt: skip
        if self.metrics is not None:
            self.metrics.converted(time.perf_counter() - started)
        if not respond_async:  # claimed in the enqueue transaction: no background relay can take it first
            new = replace(new, lease=self.relay.inline_lease())
        result = self.outbox.enqueue(new)
        if result.created and self.metrics is not None:
            self.metrics.accepted(types)
        inline = result.created and new.lease is not None
        return Accepted(result.record, replayed=not result.created, payload=new.payload if inline else None)

    def attempt(self, accepted: Accepted) -> SubmissionResult:
        """The inline attempt of a submission ``accept`` leased for it (none for a replay or ``respond_async``)."""
        record = accepted.record
        if accepted.payload is not None:
            outcome = self.relay.handle(OutboxRecord.of(record, accepted.payload))
            refreshed = outcome.record or self.outbox.get_status(record.id)
            record = refreshed if refreshed is not None else record
        return SubmissionResult(record, replayed=accepted.replayed)

    def _new_submission(
        self, body: RequestBody, *, actor: str, key: str | None, fingerprint: str, request_id: str | None,
        traceparent: str | None,
    ) -> tuple[NewSubmission, tuple[str, ...]]:  # fmt: skip
        """Convert, check and sign: the record to store and its document types. The conversion (model, trees,
        strings) is dropped when this returns; only the payload's bytes live on to the attempt. A refusal is audited
        (who, when, why, the site and type for the infocentre) before it is raised."""
        site = self.converter.facility.finess_eg
        conversion: Conversion | None = None
        try:
            lookup = self.replaced_lookup(body.data) if self.replaced_lookup else self.outbox.find_document
            body.replace(completed_request(body.data, lookup))
            del lookup  # it may hold the bytes: the converter's parser is to be the last to
            conversion = self.converter.convert(body)
            require_valid(conversion)
            submission = conversion.mapping.submission
            p_hash = patient_hash(submission.patient.ins.value, submission.patient.ins.oid, self.patient_secret)
            check_replacements(conversion, p_hash, self.outbox, actor)
            if self.precheck is not None:
                self.precheck(submission.patient.ins.value, submission.patient.ins.oid, subject_expression(conversion))
            types = document_types(conversion)
            context = {
                "submission_unique_id": submission.unique_id,
                "entries": [asdict(e) for e in conversion.mapping.entries],
                "warnings": [issue_to_json(i) for i in conversion.all_issues()],
                "entry_uuids": {d.request.document.id: d.request.entry_id for d in conversion.documents},
                "meaning": meaning_fingerprint(conversion, p_hash),
                "types": list(types),  # typeCode per document: what the metrics count
            }
            documents = registry_entries(conversion, site)
            unique_ids = tuple(d.request.document.id for d in conversion.documents)
            prepared = self.feeder.prepare(conversion)  # last: the copies above are gone by then
        except FacadeError as exc:  # refused before the outbox: still in the audit trail (who, when, why)
            self._refused(exc, conversion, actor=actor, request_id=request_id, traceparent=traceparent,
                          detail=refusal_detail(body, conversion, site))  # fmt: skip
            raise
        # The conversion (each decoded document, its model) goes before the payload is joined: the signed parts and
        # the payload are then all there is (a 10 MiB PDF: 28 MB instead of 38).
        del conversion, submission
        payload = prepared.to_payload()
        del prepared
        new = NewSubmission(
            # Without a client key the record is keyed by the request itself: an identical re-post is a replay,
            # while another request carrying an already-submitted document meets the store's document check (409).
            idempotency_key=key or client_idempotency_key(actor, f"request:{fingerprint}"),
            fingerprint=fingerprint,
            payload=payload,
            document_unique_ids=unique_ids,
            patient_hash=p_hash,
            actor=actor,
            request_id=request_id,
            context=context,
            documents=documents,
            traceparent=traceparent,
        )
        return new, types

    def _refused(
        self, exc: FacadeError, conversion: Conversion | None, *, actor: str, request_id: str | None,
        traceparent: str | None, detail: Mapping[str, Any] | None = None,
    ) -> None:  # fmt: skip
        self.outbox.append_audit(
            AuditEvent.REJECTED, actor=actor, outcome=exc.problem.spec.code, request_id=request_id,
            traceparent=traceparent, detail=detail,
        )  # fmt: skip
        if self.metrics is not None:
            self.metrics.refused(exc.problem.spec.code, document_types(conversion) if conversion else ())

    def status(self, submission_id: str, *, actor: str, sees_all: bool) -> SubmissionResult:
        """A submission as its client (or an auditor, ``sees_all``) may see it; another client's submission is as
        invisible as a missing one."""
        record = self.outbox.get_status(submission_id)
        if record is None or not (record.actor == actor or sees_all):
            raise FacadeError(Problem.NOT_FOUND, text=f"no submission {submission_id}")
        return SubmissionResult(record)

    def document(self, document_id: str, *, actor: str, sees_all: bool) -> RegisteredDocument:
        """A document the facade accepted, by its id (the entryUUID's UUID; the uniqueId is also understood, as
        earlier answers used it). Another client's document is as invisible as a missing one."""
        found = None
        if UUID.match(document_id):
            found = self.outbox.find_document(entry_uuid=f"urn:uuid:{document_id.lower()}")
        elif oid_from_urn(document_id) == document_id:
            found = self.outbox.find_document(unique_id=document_id)
        if found is None or not (found.actor == actor or sees_all):
            raise FacadeError(Problem.NOT_FOUND, text=f"no DocumentReference {document_id}")
        return found

    def audit_trail(self, entity: str | None, period: tuple[datetime, datetime]) -> list[AuditEntry]:
        """The audit entries of one submission (``entity``), else those recorded in ``period`` [start, end)."""
        if entity:
            return self.outbox.audit_for_submission(entity)
        return self.outbox.audit_between(*period)
