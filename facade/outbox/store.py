"""The durable outbox: the store interface, idempotency keys, and the one SQL implementation of the state machine
shared by SQLite (``facade.outbox.sqlite``) and PostgreSQL (``facade.outbox.postgres``).

A submission is persisted, payload included, before anything is sent; relays claim due records under a lease
(``claim``), report the outcome (``complete`` / ``fail``), and a lease that expires makes the record claimable
again, flagged ``ambiguous`` (the vanished attempt may have reached the DMP). Every state change writes its audit
entry in the same transaction. See ``facade.outbox.record`` for the state diagram.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from facade.errors import Problem
from facade.logs.redaction import redact  # the audit trail keeps the patient as a keyed hash only
from facade.outbox import registry
from facade.outbox.audit import AuditEntry, AuditEvent
from facade.outbox.indicators import IndicatorQuery, Indicators
from facade.outbox.record import (
    EnqueueResult,
    Failure,
    IdempotencyConflictError,
    NewSubmission,
    OutboxRecord,
    Payload,
    StaleLeaseError,
    State,
    SubmissionStateError,
    SubmissionStatus,
    UnknownSubmissionError,
)
from facade.outbox.sql import COLS as _COLS
from facade.outbox.sql import S_COLS as _S_COLS
from facade.outbox.sql import STATUS_COLUMNS, Conflict, Cursor, SqlTables

# --- the interface ------------------------------------------------------------------------------------------------


class Outbox(Protocol):
    def enqueue(self, new: NewSubmission) -> EnqueueResult:
        """Persist a submission (state pending; sending, attempt 1, when ``new.lease`` claims it for the caller's
        inline attempt). Idempotent: the same key with the same fingerprint returns the
        existing record (created=False). Raises IdempotencyConflictError for the same key with another request,
        or when a document uniqueId is already carried by another record that is not dead."""
        ...

    def claim(self, now: datetime, lease: timedelta, limit: int, owner: str) -> list[OutboxRecord]:
        """Exclusively lease up to ``limit`` due records (pending/failed due, or sending with an expired lease)."""
        ...

    def claim_id(self, submission_id: str, now: datetime, lease: timedelta, owner: str) -> OutboxRecord | None:
        """Lease one given record if it is claimable now (the API's inline attempt); None otherwise."""
        ...

    def complete(
        self, submission_id: str, response: Mapping[str, Any], *, owner: str | None = None
    ) -> SubmissionStatus: ...

    def fail(
        self,
        submission_id: str,
        error: Failure,
        retry_at: datetime | None,
        *,
        ambiguous: bool = False,
        owner: str | None = None,
    ) -> SubmissionStatus: ...

    def recover_expired(self, now: datetime, dead_owner: Callable[[str], bool] | None = None) -> list[str]: ...

    def requeue(self, submission_id: str, now: datetime, *, actor: str) -> SubmissionStatus: ...

    def get(self, submission_id: str) -> OutboxRecord | None: ...

    def get_status(self, submission_id: str) -> SubmissionStatus | None:
        """The record without its payload (what status answers need: the payload is not read)."""
        ...

    def find_by_idempotency_key(self, key: str) -> SubmissionStatus | None: ...

    def find_by_fingerprint(self, actor: str, fingerprint: str) -> SubmissionStatus | None:
        """This client's latest live record of these request bytes, whatever its key (a dead one: only its own key)."""
        ...

    def find_by_document_unique_id(self, unique_id: str) -> list[SubmissionStatus]: ...

    def list_by_state(self, state: State, *, limit: int = 100) -> list[SubmissionStatus]: ...

    def find_document(
        self, *, entry_uuid: str | None = None, unique_id: str | None = None
    ) -> registry.RegisteredDocument | None:
        """The registry's latest row for a document (by entryUUID or uniqueId) whose submission is not dead."""
        ...

    def replacements_of(self, entry_uuid: str) -> list[registry.RegisteredDocument]:
        """Documents of live (not dead) submissions that replace ``entry_uuid``."""
        ...

    def reconcile_document(
        self, unique_id: str, *, availability: registry.Availability, confidentiality: Sequence[Sequence[str]]
    ) -> int:
        """Record what the DMP holds after an update (ITI-57); returns the rows changed (0: never sent from here)."""
        ...

    def count_by_state(self) -> dict[State, int]: ...

    def oldest_waiting_since(self) -> datetime | None: ...  # acceptance of the oldest pending/sending/failed one
    def indicators(self, query: IndicatorQuery) -> Indicators:
        """The infocentre's aggregates (facade.outbox.indicators)."""
        ...

    def append_audit(
        self,
        event: AuditEvent | str,
        *,
        actor: str,
        outcome: str,
        submission_id: str | None = None,
        patient_hash: str | None = None,
        document_unique_ids: Sequence[str] = (),
        request_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
        traceparent: str | None = None,
    ) -> None: ...

    def audit_for_submission(self, submission_id: str) -> list[AuditEntry]: ...

    def audit_between(self, start: datetime, end: datetime, *, limit: int = 1000) -> list[AuditEntry]: ...

    def close(self) -> None: ...


# --- the state machine in SQL -----------------------------------------------------------------------------------

_DUE = "((state IN ('pending', 'failed') AND next_attempt_at <= ?) OR (state = 'sending' AND lease_until <= ?))"


class SqlOutbox(SqlTables):
    """The state machine: enqueue, claim under a lease, complete, fail, recover, requeue; every change audited in
    its own transaction."""

    def enqueue(self, new: NewSubmission) -> EnqueueResult:
        uids = tuple(dict.fromkeys(u for u in new.document_unique_ids))
        if not new.idempotency_key:
            raise ValueError("idempotency_key is required")
        with self._transaction() as cur:
            outcome = self._enqueue(cur, new, uids)
        if isinstance(outcome, Conflict):
            raise IdempotencyConflictError(outcome.problem, outcome.existing, **outcome.details)
        return outcome

    def _enqueue(self, cur: Cursor, new: NewSubmission, uids: tuple[str, ...]) -> EnqueueResult | Conflict:
        now = self._now()
        replaced = sorted({d.replaces_entry_uuid for d in new.documents if d.replaces_entry_uuid})
        keys = [f"key:{new.idempotency_key}", *(f"uid:{u}" for u in uids), *(f"rplc:{r}" for r in replaced)]
        self._lock_keys(cur, sorted(keys))
        superseded: str | None = None
        row = self._select_one(cur, "idempotency_key = ?", (new.idempotency_key,), lock=True)
        if row is not None:
            earlier = self._same_key(cur, now, new, row)
            if earlier is not None:
                return earlier
            superseded = row[0]  # the dead record (column id) whose key the new request takes
        if uids:
            earlier = self._same_documents(cur, now, new, uids)
            if earlier is not None:
                return earlier
        conflict = self._replaced_twice(cur, now, new, replaced)
        if conflict is not None:
            return conflict
        record = self._insert(cur, now, new, uids)
        self._audit_record(cur, now, record, AuditEvent.ENQUEUED, "accepted", superseded=superseded)
        if new.lease is not None:  # claimed in this transaction: the same trail as a claim
            self._audit_record(cur, now, record, AuditEvent.ATTEMPT, "started", owner=new.lease.owner, attempt=1)
        return EnqueueResult(record, created=True, superseded=superseded)

    def _same_key(
        self, cur: Cursor, now: datetime, new: NewSubmission, row: Sequence[Any]
    ) -> EnqueueResult | Conflict | None:
        """The record already holding the key: a replay, a conflict, or (dead) superseded by the new request."""
        existing = self._status(row)
        if _same_request(existing, new):
            self._audit_record(
                cur, now, existing, AuditEvent.REPLAYED, existing.state.value, request_id=new.request_id,
                traceparent=new.traceparent,
            )  # fmt: skip
            return EnqueueResult(existing, created=False)
        if existing.state is not State.DEAD:
            self._audit_record(
                cur, now, existing, AuditEvent.CONFLICT, Problem.IDEMPOTENCY_KEY_REUSED.spec.code,
                request_id=new.request_id, traceparent=new.traceparent, actor=new.actor,
            )  # fmt: skip
            return Conflict(Problem.IDEMPOTENCY_KEY_REUSED, existing, {})
        # A dead record (rejected or abandoned) releases its key to a different, corrected request.
        self._exec(
            cur,
            "UPDATE outbox_submission SET idempotency_key = ?, updated_at = ? WHERE id = ?",
            (f"{existing.idempotency_key}~superseded~{existing.id}", self._ts(now), existing.id),
        )
        self._audit_record(
            cur, now, existing, AuditEvent.SUPERSEDED, "superseded", request_id=new.request_id,
            traceparent=new.traceparent,
        )  # fmt: skip
        return None

    def _same_documents(
        self, cur: Cursor, now: datetime, new: NewSubmission, uids: tuple[str, ...]
    ) -> EnqueueResult | Conflict | None:
        """A live record already carrying one of the documents: a replay under another key, or a conflict."""
        marks = ", ".join("?" for _ in uids)
        self._exec(
            cur,
            f"SELECT {_S_COLS}, d.unique_id FROM outbox_document d JOIN outbox_submission s"  # noqa: S608
            f" ON s.id = d.submission_id WHERE d.unique_id IN ({marks}) AND s.state <> 'dead'"
            " ORDER BY s.created_at",
            uids,
        )
        live = cur.fetchall()
        if not live:
            return None
        other = self._status(live[0][:-1])
        if other.actor == new.actor and _same_request(other, new):  # a retry under another key
            self._audit_record(
                cur, now, other, AuditEvent.REPLAYED, other.state.value, request_id=new.request_id,
                traceparent=new.traceparent,
            )  # fmt: skip
            return EnqueueResult(other, created=False)
        # Another client's submission is named to nobody else: the conflict is audited as this client's.
        foreign = other.actor != new.actor
        self._audit_record(
            cur, now, other, AuditEvent.CONFLICT, Problem.DOCUMENT_ALREADY_SUBMITTED.spec.code,
            request_id=new.request_id, traceparent=new.traceparent, actor=new.actor, unique_id=live[0][-1],
            foreign=foreign,
        )  # fmt: skip
        return Conflict(Problem.DOCUMENT_ALREADY_SUBMITTED, other, {"unique_id": live[0][-1], "foreign": foreign})

    def _insert(self, cur: Cursor, now: datetime, new: NewSubmission, uids: tuple[str, ...]) -> SubmissionStatus:
        record_id = self._new_id()
        due = new.not_before or now
        lease = new.lease
        self._exec(
            cur,
            f"INSERT INTO outbox_submission ({_COLS}) VALUES ({', '.join('?' for _ in STATUS_COLUMNS)})",  # noqa: S608
            (
                record_id,
                new.idempotency_key,
                new.fingerprint,
                self._json(list(uids)),
                (State.PENDING if lease is None else State.SENDING).value,
                0 if lease is None else 1,
                self._ts(due),
                None if lease is None else lease.owner,
                None if lease is None else self._ts(now + lease.duration),
                None,
                None,
                False,
                self._ts(now),
                self._ts(now),
                None,
                self._ts(now),
                new.request_id,
                new.patient_hash,
                new.actor,
                self._json(dict(new.context)),
                new.traceparent,
            ),
        )
        self._insert_payload(cur, record_id, new.payload)
        for uid in uids:
            self._exec(cur, "INSERT INTO outbox_document (unique_id, submission_id) VALUES (?, ?)", (uid, record_id))
        for entry in new.documents:  # the registry: in the same transaction as the record it describes
            self._exec(cur, registry.INSERT, registry.row_values(
                entry, submission_id=record_id, patient_hash=new.patient_hash, actor=new.actor,
                now=self._ts(now), encode_json=self._json, encode_ts=self._ts,
            ))  # fmt: skip
        return self._status(self._select_one(cur, "id = ?", (record_id,)))

    def _insert_payload(self, cur: Cursor, record_id: str, payload: Payload) -> None:
        sql = "INSERT INTO outbox_payload (submission_id, content_type, body) VALUES (?, ?, ?)"
        self._exec(cur, sql, (record_id, payload.content_type, payload.body))

    # --- claim ---

    def claim(self, now: datetime, lease: timedelta, limit: int, owner: str) -> list[OutboxRecord]:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        _check_lease(lease)
        with self._transaction(write=False) as cur:  # an idle poll takes no write lock (SQLite: one writer at a time)
            self._exec(cur, f"SELECT 1 FROM outbox_submission WHERE {_DUE} LIMIT 1", (self._ts(now), self._ts(now)))  # noqa: S608
            if not cur.fetchall():
                return []
        with self._transaction() as cur:
            self._exec(
                cur,
                f"SELECT id, state, lease_owner FROM outbox_submission WHERE {_DUE}"  # noqa: S608
                f" ORDER BY next_attempt_at, created_at LIMIT ?{self.skip_locked}",
                (self._ts(now), self._ts(now), limit),
            )
            return self._lease(cur, cur.fetchall(), now, lease, owner)

    def claim_id(self, submission_id: str, now: datetime, lease: timedelta, owner: str) -> OutboxRecord | None:
        _check_lease(lease)
        with self._transaction() as cur:
            self._exec(
                cur,
                f"SELECT id, state, lease_owner FROM outbox_submission WHERE id = ? AND {_DUE}{self.skip_locked}",  # noqa: S608
                (submission_id, self._ts(now), self._ts(now)),
            )
            records = self._lease(cur, cur.fetchall(), now, lease, owner)
        return records[0] if records else None

    def _lease(
        self, cur: Cursor, due: Sequence[Sequence[Any]], now: datetime, lease: timedelta, owner: str
    ) -> list[OutboxRecord]:
        if not due:
            return []
        ids = [row[0] for row in due]
        marks = ", ".join("?" for _ in ids)
        # SET sees the old state: a record taken over from an expired lease becomes ambiguous.
        self._exec(
            cur,
            f"UPDATE outbox_submission SET state = 'sending', lease_owner = ?, lease_until = ?,"  # noqa: S608
            f" attempts = attempts + 1, ambiguous = (ambiguous OR state = 'sending'), updated_at = ?"
            f" WHERE id IN ({marks}) RETURNING {_COLS}",
            (owner, self._ts(now + lease), self._ts(self._now()), *ids),
        )
        records = self._with_payloads(cur, cur.fetchall())
        previous = {row[0]: (State(row[1]), row[2]) for row in due}
        audit_now = self._now()
        for record in records:
            old_state, old_owner = previous[record.id]
            if old_state is State.SENDING:
                self._audit_record(cur, audit_now, record, AuditEvent.LEASE_EXPIRED, "ambiguous", owner=old_owner)
            self._audit_record(
                cur, audit_now, record, AuditEvent.ATTEMPT, "started", owner=owner, attempt=record.attempts
            )
        order = {sid: i for i, sid in enumerate(ids)}
        return sorted(records, key=lambda r: order[r.id])

    # --- outcomes ---

    def complete(
        self, submission_id: str, response: Mapping[str, Any], *, owner: str | None = None
    ) -> SubmissionStatus:
        """Record the delivery. Accepted whatever the lease says (a delivery is a fact, even if reported late by a
        relay whose lease expired); a no-op on a record already delivered."""
        with self._transaction() as cur:
            now = self._now()
            row = self._select_one(cur, "id = ?", (submission_id,), lock=True)
            if row is None:
                raise UnknownSubmissionError(submission_id)
            current = self._status(row)
            if current.state is State.DELIVERED:
                return current
            self._exec(
                cur,
                f"UPDATE outbox_submission SET state = 'delivered', response = ?, lease_owner = NULL,"  # noqa: S608
                f" lease_until = NULL, delivered_at = ?, updated_at = ? WHERE id = ? RETURNING {_COLS}",
                (self._json(dict(response)), self._ts(now), self._ts(now), submission_id),
            )
            record = self._status(cur.fetchall()[0])
            self._deprecate_replaced(cur, submission_id, now)
            detail: dict[str, Any] = {"attempts": record.attempts, "previous_state": current.state.value}
            if owner is not None:
                detail["owner"] = owner
                if current.lease_owner != owner:
                    detail["late"] = True  # reported by a relay that had lost its lease
            self._audit_record(cur, now, record, AuditEvent.DELIVERED, "delivered", **detail)
            return record

    def fail(
        self,
        submission_id: str,
        error: Failure,
        retry_at: datetime | None,
        *,
        ambiguous: bool = False,
        owner: str | None = None,
    ) -> SubmissionStatus:
        """Record a failed attempt: retry at ``retry_at`` (state failed) or never (``None``: state dead).
        Only the record's current lease holder may do this (``owner``), and only while it is sending."""
        with self._transaction() as cur:
            now = self._now()
            row = self._select_one(cur, "id = ?", (submission_id,), lock=True)
            if row is None:
                raise UnknownSubmissionError(submission_id)
            current = self._status(row)
            if current.state is not State.SENDING or (owner is not None and current.lease_owner != owner):
                raise StaleLeaseError(submission_id, current.state, current.lease_owner, owner)
            state = State.FAILED if retry_at is not None else State.DEAD
            self._exec(
                cur,
                f"UPDATE outbox_submission SET state = ?, next_attempt_at = ?, last_error = ?,"  # noqa: S608
                f" ambiguous = (ambiguous OR ?), lease_owner = NULL, lease_until = NULL, updated_at = ?"
                f" WHERE id = ? RETURNING {_COLS}",
                (
                    state.value,
                    self._ts(retry_at) if retry_at is not None else self._ts(current.next_attempt_at),
                    self._json(error.to_json()),
                    ambiguous,
                    self._ts(now),
                    submission_id,
                ),
            )
            record = self._status(cur.fetchall()[0])
            if retry_at is not None:
                self._audit_record(
                    cur, now, record, AuditEvent.RETRY_SCHEDULED, error.code,
                    attempt=record.attempts, retry_at=retry_at.isoformat(), ambiguous=record.ambiguous,
                )  # fmt: skip
            else:
                self._audit_record(
                    cur, now, record, AuditEvent.DEAD, error.code,
                    attempt=record.attempts, message=redact(error.message), ambiguous=record.ambiguous,
                )  # fmt: skip
            return record

    def recover_expired(self, now: datetime, dead_owner: Callable[[str], bool] | None = None) -> list[str]:
        """Make records whose lease expired claimable at once (state failed, ambiguous). ``claim`` also takes
        expired leases directly; this is for start-up and for status accuracy. ``dead_owner`` also releases leases
        held by owners known to be gone (a process of this host that was killed), without waiting for their expiry."""
        with self._transaction() as cur:
            self._exec(
                cur,
                "SELECT id, lease_owner, lease_until FROM outbox_submission WHERE state = 'sending'"  # noqa: S608
                f"{self.skip_locked}",
                (),
            )
            expired = [
                (row[0], row[1])
                for row in cur.fetchall()
                if row[2] is None
                or self._from_ts(row[2]) <= now
                or (dead_owner is not None and row[1] is not None and dead_owner(row[1]))
            ]
            if not expired:
                return []
            ids = [row[0] for row in expired]
            marks = ", ".join("?" for _ in ids)
            stamp = self._now()
            self._exec(
                cur,
                f"UPDATE outbox_submission SET state = 'failed', next_attempt_at = ?, ambiguous = ?,"  # noqa: S608
                f" lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id IN ({marks}) RETURNING {_COLS}",
                (self._ts(now), True, self._ts(stamp), *ids),
            )
            owners = dict((row[0], row[1]) for row in expired)  # noqa: C402
            for row in cur.fetchall():
                record = self._status(row)
                self._audit_record(cur, stamp, record, AuditEvent.LEASE_EXPIRED, "ambiguous", owner=owners[record.id])
            return ids

    def requeue(self, submission_id: str, now: datetime, *, actor: str) -> SubmissionStatus:
        """Operator action: a dead record goes back to pending with a fresh retry budget (attempts and horizon).
        The ambiguous flag is kept: an earlier attempt may still have landed."""
        with self._transaction() as cur:
            row = self._select_one(cur, "id = ?", (submission_id,), lock=True)
            if row is None:
                raise UnknownSubmissionError(submission_id)
            current = self._status(row)
            if current.state is not State.DEAD:
                raise SubmissionStateError(submission_id, current.state, "requeue", "dead")
            self._exec(
                cur,
                f"UPDATE outbox_submission SET state = 'pending', attempts = 0, next_attempt_at = ?,"  # noqa: S608
                f" retry_since = ?, updated_at = ? WHERE id = ? RETURNING {_COLS}",
                (self._ts(now), self._ts(now), self._ts(self._now()), submission_id),
            )
            record = self._status(cur.fetchall()[0])
            self._audit_record(
                cur,
                self._now(),
                record,
                AuditEvent.REQUEUED,
                "pending",
                actor=actor,
                previous_attempts=current.attempts,
            )
            return record


def _same_request(existing: SubmissionStatus, new: NewSubmission) -> bool:
    """The same request bytes, or the same meaning: the same documents (uniqueId + content hash) of the same
    patient, however the JSON was serialised (``meaning`` kept in the record's context)."""
    meaning = new.context.get("meaning")
    return existing.fingerprint == new.fingerprint or (bool(meaning) and existing.context.get("meaning") == meaning)


def _check_lease(lease: timedelta) -> None:
    if lease <= timedelta(0):
        raise ValueError("lease must be positive")
