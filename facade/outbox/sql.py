"""The outbox's tables seen from SQL, shared by the state machine (``facade.outbox.store``) and its two dialects
(``facade.outbox.sqlite``, ``facade.outbox.postgres``): the columns, the dialect hooks, row decoding, the audit
trail (written in the caller's transaction, read back by operators) and the read-only queries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from facade.errors import Problem
from facade.ids import system_now
from facade.outbox import indicators, registry
from facade.outbox.audit import AuditEntry, AuditEvent
from facade.outbox.record import Failure, NewSubmission, OutboxRecord, Payload, State, SubmissionStatus

Clock = Callable[[], datetime]


class Cursor(Protocol):
    def execute(self, query: str, params: Sequence[Any] = ..., /) -> object: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


STATUS_COLUMNS = (
    "id",
    "idempotency_key",
    "fingerprint",
    "document_unique_ids",
    "state",
    "attempts",
    "next_attempt_at",
    "lease_owner",
    "lease_until",
    "response",
    "last_error",
    "ambiguous",
    "created_at",
    "updated_at",
    "delivered_at",
    "retry_since",
    "request_id",
    "patient_hash",
    "actor",
    "context",
    "traceparent",  # added by facade.outbox.columns: NULL in rows written before it
)
COLS = ", ".join(STATUS_COLUMNS)
S_COLS = ", ".join(f"s.{c}" for c in STATUS_COLUMNS)
_AUDIT_COLS = (
    "seq, at, event, outcome, actor, submission_id, patient_hash, document_unique_ids, request_id, detail, traceparent"
)


@dataclass(frozen=True)
class Conflict:
    """A refused enqueue: audited inside the transaction, raised after it commits."""

    problem: Problem
    existing: SubmissionStatus
    details: Mapping[str, Any]


class SqlTables:
    """Portable SQL (``?`` placeholders, RETURNING, ON CONFLICT) over the outbox tables. Subclasses provide the
    connection, the transaction and the value encodings; PostgreSQL adds row locks (``FOR UPDATE [SKIP LOCKED]``)
    and advisory locks, SQLite serialises writers with ``BEGIN IMMEDIATE``."""

    lock_rows = ""  # appended to SELECTs whose rows are then updated in the same transaction
    dialect = indicators.SQLITE  # the infocentre's SQL differences
    skip_locked = ""  # appended to the claim SELECT

    def __init__(self, *, clock: Clock = system_now, new_id: Callable[[], str] | None = None) -> None:
        self._clock = clock
        self._new_id = new_id or (lambda: str(uuid.uuid4()))

    # --- dialect hooks ---

    def _transaction(self, *, write: bool = True) -> AbstractContextManager[Cursor]:
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        return text

    def _ts(self, value: datetime) -> Any:
        raise NotImplementedError

    def _from_ts(self, value: Any) -> datetime:
        raise NotImplementedError

    def _json(self, value: Any) -> Any:
        raise NotImplementedError

    def _from_json(self, value: Any) -> Any:
        raise NotImplementedError

    def _lock_keys(self, cur: Cursor, keys: Sequence[str]) -> None:
        """Serialise concurrent enqueues touching the same key / documents (no-op where writers are serialised)."""

    def close(self) -> None:
        raise NotImplementedError

    # --- plumbing ---

    def _exec(self, cur: Cursor, sql: str, params: Sequence[Any] = ()) -> None:
        cur.execute(self._sql(sql), tuple(params))

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the outbox clock must return timezone-aware datetimes")
        return now

    def _opt_ts(self, value: datetime | None) -> Any:
        return None if value is None else self._ts(value)

    def _status(self, row: Sequence[Any]) -> SubmissionStatus:
        return SubmissionStatus(**self._status_fields(row))

    def _status_fields(self, row: Sequence[Any]) -> dict[str, Any]:
        v = dict(zip(STATUS_COLUMNS, row, strict=True))
        last_error = self._from_json(v["last_error"])
        return {
            **v,
            "document_unique_ids": tuple(self._from_json(v["document_unique_ids"])),
            "state": State(v["state"]),
            "next_attempt_at": self._from_ts(v["next_attempt_at"]),
            "lease_until": None if v["lease_until"] is None else self._from_ts(v["lease_until"]),
            "response": self._from_json(v["response"]),
            "last_error": None if last_error is None else Failure.from_json(last_error),
            "ambiguous": bool(v["ambiguous"]),
            "created_at": self._from_ts(v["created_at"]),
            "updated_at": self._from_ts(v["updated_at"]),
            "delivered_at": None if v["delivered_at"] is None else self._from_ts(v["delivered_at"]),
            "retry_since": self._from_ts(v["retry_since"]),
            "context": self._from_json(v["context"]) or {},
        }

    def _with_payloads(self, cur: Cursor, rows: Sequence[Sequence[Any]]) -> list[OutboxRecord]:
        if not rows:
            return []
        ids = [row[0] for row in rows]
        marks = ", ".join("?" for _ in ids)
        query = f"SELECT submission_id, content_type, body FROM outbox_payload WHERE submission_id IN ({marks})"  # noqa: S608
        self._exec(cur, query, ids)
        payloads = {sid: Payload(ct, bytes(body)) for sid, ct, body in cur.fetchall()}
        return [OutboxRecord(**self._status_fields(row), payload=payloads[row[0]]) for row in rows]

    def _select_one(self, cur: Cursor, where: str, params: Sequence[Any], *, lock: bool = False) -> Any:
        self._exec(cur, f"SELECT {COLS} FROM outbox_submission WHERE {where}{self.lock_rows if lock else ''}", params)  # noqa: S608
        return cur.fetchone()

    def _audit(
        self,
        cur: Cursor,
        now: datetime,
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
    ) -> None:
        self._exec(
            cur,
            "INSERT INTO outbox_audit (at, event, outcome, actor, submission_id, patient_hash, document_unique_ids,"
            " request_id, detail, traceparent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._ts(now),
                str(event),
                outcome,
                actor,
                submission_id,
                patient_hash,
                self._json(list(document_unique_ids)),
                request_id,
                self._json(dict(detail or {})),
                traceparent,
            ),
        )

    def _audit_record(
        self,
        cur: Cursor,
        now: datetime,
        record: SubmissionStatus,
        event: AuditEvent,
        outcome: str,
        *,
        request_id: str | None = None,
        traceparent: str | None = None,
        actor: str | None = None,
        **detail: Any,
    ) -> None:
        self._audit(
            cur,
            now,
            event,
            actor=actor or record.actor,
            outcome=outcome,
            submission_id=record.id,
            patient_hash=record.patient_hash,
            document_unique_ids=record.document_unique_ids,
            request_id=request_id or record.request_id,
            detail=detail,
            traceparent=traceparent or record.traceparent,
        )

    # --- enqueue ---

    # --- reads ---

    def get(self, submission_id: str) -> OutboxRecord | None:
        with self._transaction(write=False) as cur:
            row = self._select_one(cur, "id = ?", (submission_id,))
            return self._with_payloads(cur, [row])[0] if row is not None else None

    def get_status(self, submission_id: str) -> SubmissionStatus | None:
        with self._transaction(write=False) as cur:
            row = self._select_one(cur, "id = ?", (submission_id,))
            return self._status(row) if row is not None else None

    def find_by_idempotency_key(self, key: str) -> SubmissionStatus | None:
        with self._transaction(write=False) as cur:
            row = self._select_one(cur, "idempotency_key = ?", (key,))
            return self._status(row) if row is not None else None

    def find_by_document_unique_id(self, unique_id: str) -> list[SubmissionStatus]:
        with self._transaction(write=False) as cur:
            self._exec(
                cur,
                f"SELECT {S_COLS} FROM outbox_document d JOIN outbox_submission s ON s.id = d.submission_id"  # noqa: S608
                " WHERE d.unique_id = ? ORDER BY s.created_at",
                (unique_id,),
            )
            return [self._status(row) for row in cur.fetchall()]

    def list_by_state(self, state: State, *, limit: int = 100) -> list[SubmissionStatus]:
        with self._transaction(write=False) as cur:
            self._exec(
                cur,
                f"SELECT {COLS} FROM outbox_submission WHERE state = ? ORDER BY created_at, id LIMIT ?",  # noqa: S608
                (State(state).value, limit),
            )
            return [self._status(row) for row in cur.fetchall()]

    def count_by_state(self) -> dict[State, int]:
        with self._transaction(write=False) as cur:
            self._exec(cur, "SELECT state, COUNT(*) FROM outbox_submission GROUP BY state")
            counts = {State(state): int(n) for state, n in cur.fetchall()}
        return {state: counts.get(state, 0) for state in State}

    def oldest_waiting_since(self) -> datetime | None:
        with self._transaction(write=False) as cur:
            self._exec(
                cur, "SELECT MIN(created_at) FROM outbox_submission WHERE state IN ('pending', 'sending', 'failed')"
            )
            (oldest,) = cur.fetchone()
        return None if oldest is None else self._from_ts(oldest)

    # --- audit ---

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
    ) -> None:
        """An event the store does not see itself (e.g. a request rejected before it reached the outbox)."""
        with self._transaction() as cur:
            self._audit(
                cur,
                self._now(),
                event,
                actor=actor,
                outcome=outcome,
                submission_id=submission_id,
                patient_hash=patient_hash,
                document_unique_ids=document_unique_ids,
                request_id=request_id,
                detail=detail,
                traceparent=traceparent,
            )

    def audit_for_submission(self, submission_id: str) -> list[AuditEntry]:
        with self._transaction(write=False) as cur:
            self._exec(
                cur,
                f"SELECT {_AUDIT_COLS} FROM outbox_audit WHERE submission_id = ? ORDER BY seq",  # noqa: S608
                (submission_id,),
            )
            return [self._audit_entry(row) for row in cur.fetchall()]

    def audit_between(self, start: datetime, end: datetime, *, limit: int = 1000) -> list[AuditEntry]:
        """Entries with ``start <= at < end``, oldest first."""
        with self._transaction(write=False) as cur:
            self._exec(
                cur,
                f"SELECT {_AUDIT_COLS} FROM outbox_audit WHERE at >= ? AND at < ? ORDER BY seq LIMIT ?",  # noqa: S608
                (self._ts(start), self._ts(end), limit),
            )
            return [self._audit_entry(row) for row in cur.fetchall()]

    def _audit_entry(self, row: Sequence[Any]) -> AuditEntry:
        seq, at, event, outcome, actor, submission_id, patient_hash, uids, request_id, detail, traceparent = row
        return AuditEntry(
            seq=int(seq),
            at=self._from_ts(at),
            event=event,
            outcome=outcome,
            actor=actor,
            submission_id=submission_id,
            patient_hash=patient_hash,
            document_unique_ids=tuple(self._from_json(uids)),
            request_id=request_id,
            detail=self._from_json(detail) or {},
            traceparent=traceparent,
        )

    def indicators(self, query: indicators.IndicatorQuery) -> indicators.Indicators:
        """The DMP feeding indicators of ``query`` (facade.outbox.indicators), aggregated by the database."""
        with self._transaction(write=False) as cur:
            return indicators.read(cur, self.dialect, query, sql=self._sql, ts=self._ts)

    # --- reads the registry adds ---

    def find_by_fingerprint(self, actor: str, fingerprint: str) -> SubmissionStatus | None:
        with self._transaction(write=False) as cur:
            row = self._select_one(
                cur,
                "actor = ? AND fingerprint = ? AND state <> 'dead' ORDER BY created_at DESC LIMIT 1",
                (actor, fingerprint),
            )
            return self._status(row) if row is not None else None

    def find_document(
        self, *, entry_uuid: str | None = None, unique_id: str | None = None
    ) -> registry.RegisteredDocument | None:
        column, value = ("r.entry_uuid", entry_uuid) if entry_uuid is not None else ("r.unique_id", unique_id)
        if value is None:
            raise ValueError("entry_uuid or unique_id is required")
        found = self._documents(f"{column} = ? AND s.state <> 'dead' ORDER BY r.created_at DESC LIMIT 1", (value,))
        return found[0] if found else None

    def reconcile_document(
        self, unique_id: str, *, availability: registry.Availability, confidentiality: Sequence[Sequence[str]]
    ) -> int:
        """What the DMP said after an update (ITI-57): availability and confidentiality codes of the document's rows,
        and the infocentre's masked / invisible columns derived from those codes (else a PATCH mask goes uncounted)."""
        with self._transaction() as cur:
            self._exec(
                cur,
                "UPDATE registry_document SET availability = ?, confidentiality = ?, masked = ?, invisible = ?,"
                " updated_at = ? WHERE unique_id = ?",
                (availability.value, self._json([list(c) for c in confidentiality]),
                 *registry.visibility_flags(confidentiality), self._ts(self._now()), unique_id),
            )
            return int(getattr(cur, "rowcount", 0) or 0)

    def replacements_of(self, entry_uuid: str) -> list[registry.RegisteredDocument]:
        return self._documents("r.replaces_entry_uuid = ? AND s.state <> 'dead' ORDER BY r.created_at", (entry_uuid,))

    def _documents(self, where: str, params: Sequence[Any]) -> list[registry.RegisteredDocument]:
        with self._transaction(write=False) as cur:
            self._exec(cur, f"{registry.SELECT} WHERE {where}", params)  # noqa: S608
            return [
                registry.from_row(row, decode_json=self._from_json, decode_ts=self._from_ts) for row in cur.fetchall()
            ]

    def _replaced_twice(self, cur: Cursor, now: datetime, new: NewSubmission, replaced: list[str]) -> Conflict | None:
        """A document already replaced, or whose replacement is live in another record: checked under the
        ``rplc:`` lock, so two concurrent replacements of one document cannot both be accepted."""
        for old_uuid in replaced:
            self._exec(
                cur,
                f"SELECT {S_COLS}, r.unique_id FROM registry_document r JOIN outbox_submission s"  # noqa: S608
                " ON s.id = r.submission_id WHERE r.replaces_entry_uuid = ? AND s.state <> 'dead'"
                " ORDER BY s.created_at",
                (old_uuid,),
            )
            rows = cur.fetchall()
            if not rows:
                continue
            other = self._status(rows[0][:-1])
            foreign = other.actor != new.actor
            by = "by another client's document" if foreign else f"by {rows[0][-1]}"
            self._audit_record(
                cur, now, other, AuditEvent.CONFLICT, Problem.REPLACED_SUPERSEDED.spec.code,
                request_id=new.request_id, traceparent=new.traceparent, actor=new.actor, replaced=old_uuid,
                foreign=foreign,
            )  # fmt: skip
            return Conflict(Problem.REPLACED_SUPERSEDED, other, {"unique_id": old_uuid, "by": by, "foreign": foreign})
        return None

    def _deprecate_replaced(self, cur: Cursor, submission_id: str, now: datetime) -> None:
        """The DMP accepted the submission: the documents it replaces (RPLC) are now deprecated in the registry."""
        self._exec(
            cur,
            "SELECT entry_uuid, replaces_entry_uuid FROM registry_document"
            " WHERE submission_id = ? AND replaces_entry_uuid IS NOT NULL",
            (submission_id,),
        )
        for new_uuid, old_uuid in cur.fetchall():
            self._exec(cur, registry.DEPRECATE, (new_uuid, self._ts(now), old_uuid))


def json_text(value: Any) -> str:
    """Canonical JSON text (SQLite stores JSON as TEXT)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
