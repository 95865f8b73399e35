"""What the outbox stores: a submission record, its states, its payload, its failures, and the store's errors.

State machine (issue 5, "Delivery guarantees")::

    pending ──claim──▶ sending ──complete──▶ delivered
       ▲                 │  │
       │                 │  └──fail(retry_at=None)──▶ dead ──requeue (operator)──▶ pending
       │                 └──fail(retry_at)──▶ failed ──claim (when due)──▶ sending
       └── (a lease that expires while sending makes the record claimable again, flagged ambiguous)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from facade.errors import FacadeError, Issue, Problem, RequestError
from facade.outbox.registry import DocumentEntry
from facade.outcomes import issues_from_outcome, problem_for_code


class State(StrEnum):
    PENDING = "pending"  # persisted, never attempted (or requeued by an operator)
    SENDING = "sending"  # leased by one relay; an attempt is (maybe) in flight
    DELIVERED = "delivered"  # the DMP accepted it (or answered duplicate after an ambiguous attempt of ours)
    FAILED = "failed"  # last attempt failed; a retry is scheduled at next_attempt_at
    DEAD = "dead"  # permanent failure or retry horizon exhausted: never claimed again


CLAIMABLE_STATES = (State.PENDING, State.FAILED)
TERMINAL_STATES = (State.DELIVERED, State.DEAD)


@dataclass(frozen=True)
class Payload:
    """The built request, stored before anything is sent (e.g. the MTOM ITI-41 body and its Content-Type)."""

    content_type: str
    body: bytes


def issue_to_json(issue: Issue) -> dict[str, Any]:
    """An Issue as the outbox stores it: our problem code, the message as rendered, severity, FHIRPath expression,
    extra codings (XDS errorCode, SOAP fault codes) and diagnostics. No HTTP status: the API derives it."""
    out: dict[str, Any] = {"code": issue.problem.spec.code, "message": issue.message}
    if issue.codings:
        out["codings"] = [list(c) for c in issue.codings]
    out["severity"] = issue.effective_severity
    if issue.expression:
        out["expression"] = issue.expression
    if issue.diagnostics:
        out["diagnostics"] = issue.diagnostics
    return out


def issue_from_json(data: Mapping[str, Any]) -> Issue:
    return Issue(
        problem_for_code(str(data.get("code", ""))) or Problem.INFORMATION,
        data.get("expression"),
        severity=data.get("severity"),
        codings=tuple((str(c[0]), str(c[1])) for c in data.get("codings") or () if len(c) == 2),
        diagnostics=data.get("diagnostics"),
        text=str(data.get("message", "")),
    )


@dataclass(frozen=True)
class Failure:
    """Why an attempt failed: a stable code (our Problem code or the XDS errorCode), a message, and the issues.

    Stored as JSON in ``last_error``; never carries an INS, a name or a key (callers pass codes and texts
    produced by the transport / RegistryResponse, which hold none)."""

    code: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": dict(self.details)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Failure:
        return cls(str(data["code"]), str(data.get("message", "")), dict(data.get("details") or {}))

    @classmethod
    def from_error(cls, error: FacadeError) -> Failure:
        """Summarise a FacadeError: first issue's code and message; every issue kept in details (domain form)."""
        return cls(error.problem.spec.code, str(error), {"issues": [issue_to_json(i) for i in error.issues]})

    def with_details(self, **extra: Any) -> Failure:
        return Failure(self.code, self.message, {**self.details, **extra})

    @property
    def problem(self) -> Problem | None:
        return problem_for_code(self.code)

    @property
    def issues(self) -> list[Issue]:
        """The stored issues. Records written before the outbox stored domain issues hold the rendered
        OperationOutcome under ``outcome`` (with ``http_status``): it is read back (compatibility read)."""
        legacy = self.details.get("outcome")
        if isinstance(legacy, Mapping):
            return issues_from_outcome(legacy)
        return [issue_from_json(i) for i in self.details.get("issues") or () if isinstance(i, Mapping)]


def delivered_response(warnings: list[Issue]) -> dict[str, Any]:
    """What the outbox stores for a delivered submission: the DMP's verdict and its warnings (domain issues)."""
    return {"status": "Success", "issues": [issue_to_json(i) for i in warnings]}


def delivered_warnings(response: Mapping[str, Any] | None) -> list[Issue]:
    """The warnings of a delivered record; older records stored them rendered (``warnings``: OperationOutcome)."""
    response = response or {}
    legacy = response.get("warnings")
    if isinstance(legacy, Mapping):
        return issues_from_outcome(legacy)
    return [issue_from_json(i) for i in response.get("issues") or () if isinstance(i, Mapping)]


@dataclass(frozen=True)
class InlineLease:
    """The enqueuing relay's lease, taken in the enqueue transaction: the record is born ``sending`` (attempt 1), so
    no background relay can take the inline attempt between the commit and the attempt."""

    owner: str
    duration: timedelta


@dataclass(frozen=True)
class NewSubmission:
    """What the API hands to ``Outbox.enqueue``.

    ``fingerprint`` identifies the client's request (e.g. SHA-256 of the posted body): the built payload changes
    on every build (fresh ids, timestamps, VIHF), so idempotent replays are recognised by the fingerprint."""

    idempotency_key: str
    fingerprint: str
    payload: Payload
    document_unique_ids: tuple[str, ...]
    patient_hash: str  # keyed hash of the INS (facade.outbox.audit.patient_hash), never the INS itself
    actor: str  # who posted (client identity from the front door)
    request_id: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)  # caller's JSON (e.g. entries for the response)
    not_before: datetime | None = None  # first attempt not before this time (default: now)
    documents: tuple[DocumentEntry, ...] = ()  # the registry rows written with the record (issue 10)
    traceparent: str | None = None  # W3C trace context of the request's span (outbound calls are its children)
    lease: InlineLease | None = None  # claimed at once for the caller's inline attempt (else pending)


@dataclass(frozen=True)
class SubmissionStatus:
    """A submission record without its payload (listings, status endpoint)."""

    id: str
    idempotency_key: str
    fingerprint: str
    document_unique_ids: tuple[str, ...]
    state: State
    attempts: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    response: Mapping[str, Any] | None
    last_error: Failure | None
    ambiguous: bool  # an attempt may have reached the DMP without us seeing the answer
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    retry_since: datetime  # start of the retry horizon (created_at, or the operator's requeue time)
    request_id: str | None
    patient_hash: str
    actor: str
    context: Mapping[str, Any]
    traceparent: str | None  # the creating request's span (W3C); None for records written before it was kept

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class OutboxRecord(SubmissionStatus):
    """A full record, payload included (what a relay delivers)."""

    payload: Payload

    @classmethod
    def of(cls, status: SubmissionStatus, payload: Payload) -> OutboxRecord:
        """A status with the payload its caller already holds (the store is not read again for it)."""
        return cls(**{f.name: getattr(status, f.name) for f in fields(SubmissionStatus)}, payload=payload)


@dataclass(frozen=True)
class EnqueueResult:
    record: SubmissionStatus  # without the payload: the caller holds it (``OutboxRecord.of``), it is not read back
    created: bool  # False: an idempotent replay returned the existing record
    superseded: str | None = None  # id of a dead record whose key was released for this one


class OutboxError(FacadeError):
    """Base of the store's own errors."""


class OutboxUnavailableError(OutboxError):
    """The store cannot be read or written (database locked beyond the busy timeout, disk, connection lost)."""

    def __init__(self, reason: str) -> None:
        super().__init__(Problem.OUTBOX_UNAVAILABLE, reason=reason)


class IdempotencyConflictError(OutboxError, RequestError):
    """Same Idempotency-Key with a different request, or a document uniqueId already carried by a live record."""

    def __init__(self, problem: Problem, existing: SubmissionStatus, *, foreign: bool = False, **details: Any) -> None:
        self.existing = existing
        self.foreign = foreign  # another client's submission: its id is not shown
        sid = "of another client" if foreign else existing.id
        super().__init__(problem, submission_id=sid, state=existing.state.value, **details)


class UnknownSubmissionError(OutboxError, RequestError):
    def __init__(self, submission_id: str) -> None:
        super().__init__(Problem.SUBMISSION_NOT_FOUND, submission_id=submission_id)


class StaleLeaseError(OutboxError):
    """fail() by a relay that no longer holds the lease (it expired and another relay took the record over, or
    the record is no longer sending). The caller must drop its result: the current holder decides."""

    def __init__(self, submission_id: str, state: State, lease_owner: str | None, owner: str | None) -> None:
        self.submission_id = submission_id
        self.state = state
        super().__init__(
            Problem.OUTBOX_STALE_LEASE,
            submission_id=submission_id,
            state=state.value,
            lease_owner=lease_owner or "-",
            owner=owner or "-",
        )


class SubmissionStateError(OutboxError):
    """An operation that the record's current state does not allow (e.g. requeue of a record that is not dead)."""

    def __init__(self, submission_id: str, state: State, action: str, expected: str) -> None:
        self.state = state
        super().__init__(
            Problem.SUBMISSION_STATE_CONFLICT,
            submission_id=submission_id,
            state=state.value,
            action=action,
            expected=expected,
        )
