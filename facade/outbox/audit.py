"""The audit trail of submissions (issue 5, "A hardened front door"): who, which patient (keyed hash of the INS),
which documents, which event, which outcome, when. Append-only table in the outbox store; the store writes
the state-change events in the same transaction as the change itself, so the trail cannot disagree with it."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AuditEvent(StrEnum):
    ENQUEUED = "enqueued"  # persisted (outcome "accepted")
    REPLAYED = "replayed"  # idempotent replay: same key / same request, existing record returned
    CONFLICT = "conflict"  # same key or document with a different request: refused
    SUPERSEDED = "superseded"  # a dead record released its idempotency key to a corrected resubmission
    ATTEMPT = "attempt"  # claimed by a relay: an attempt starts
    LEASE_EXPIRED = "lease-expired"  # the relay holding it vanished; the attempt is ambiguous
    DELIVERED = "delivered"
    RETRY_SCHEDULED = "retry-scheduled"
    DEAD = "dead"
    REQUEUED = "requeued"  # operator moved a dead record back to pending
    REJECTED = "rejected"  # refused before it reached the outbox (validation, auth): written by the API


@dataclass(frozen=True)
class AuditEntry:
    seq: int  # insertion order (monotonic per store)
    at: datetime
    event: str  # an AuditEvent value (kept as str so that newer events stay readable by older code)
    outcome: str  # short: accepted, delivered, an error code ...
    actor: str
    submission_id: str | None
    patient_hash: str | None
    document_unique_ids: tuple[str, ...]
    request_id: str | None
    detail: Mapping[str, Any] = field(default_factory=dict)
    traceparent: str | None = None  # W3C trace context of the request (or relay attempt) that wrote it


def patient_hash(ins_value: str, ins_oid: str, secret: bytes) -> str:
    """Keyed hash (HMAC-SHA256) of an INS for logs and audit.

    A plain SHA-256 of an INS can be reversed by enumeration (a NIR has a small, structured space), so the hash
    is keyed with an installation secret (configuration, never logged). Same INS + same secret -> same value,
    so the audit stays queryable by patient."""
    if len(secret) < 16:
        raise ValueError("the patient hash secret must be at least 16 bytes")
    mac = hmac.new(secret, f"{ins_oid}|{ins_value}".encode(), hashlib.sha256)
    return "hmac-sha256:" + mac.hexdigest()
