"""Durable outbox: submissions are persisted before anything is sent, delivered by relays under leases, retried
with backoff, and audited (issue 5). ``PostgresOutbox`` lives in ``facade.outbox.postgres`` (needs psycopg)."""

from facade.outbox.audit import AuditEntry, AuditEvent, patient_hash
from facade.outbox.keys import client_idempotency_key, document_idempotency_key, request_fingerprint
from facade.outbox.policy import RetryDecision, RetryPolicy
from facade.outbox.record import (
    EnqueueResult,
    Failure,
    IdempotencyConflictError,
    NewSubmission,
    OutboxError,
    OutboxRecord,
    OutboxUnavailableError,
    Payload,
    StaleLeaseError,
    State,
    SubmissionStateError,
    SubmissionStatus,
    UnknownSubmissionError,
)
from facade.outbox.relay import DeliveryKind, DeliveryResult, Outcome, Relay, RelayOutcome
from facade.outbox.sqlite import SqliteOutbox
from facade.outbox.store import Outbox

__all__ = [
    "AuditEntry",
    "AuditEvent",
    "DeliveryKind",
    "DeliveryResult",
    "EnqueueResult",
    "Failure",
    "IdempotencyConflictError",
    "NewSubmission",
    "Outbox",
    "OutboxError",
    "OutboxRecord",
    "OutboxUnavailableError",
    "Outcome",
    "Payload",
    "Relay",
    "RelayOutcome",
    "RetryDecision",
    "RetryPolicy",
    "SqliteOutbox",
    "StaleLeaseError",
    "State",
    "SubmissionStateError",
    "SubmissionStatus",
    "UnknownSubmissionError",
    "client_idempotency_key",
    "document_idempotency_key",
    "patient_hash",
    "request_fingerprint",
]
