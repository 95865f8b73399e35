"""SQLite outbox: the default, embedded store (one file, WAL).

Safe with several threads (one connection per thread) and several processes on the same file: every write runs
in ``BEGIN IMMEDIATE`` (one writer at a time, taken before the first read, so a read-then-write transaction can
never fail with SQLITE_BUSY half-way) and waits up to ``busy_timeout`` for the lock. ``synchronous=FULL`` by
default: a committed submission survives a power cut, not only a process crash.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from facade.ids import system_now
from facade.outbox.columns import add_sqlite_columns
from facade.outbox.connections import ThreadConnections
from facade.outbox.indicator_columns import migrate_sqlite
from facade.outbox.record import EnqueueResult, NewSubmission, OutboxUnavailableError, Payload
from facade.outbox.registry import SQLITE_DDL
from facade.outbox.sql import Clock, Cursor, json_text
from facade.outbox.store import SqlOutbox

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)

SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS outbox_submission (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    document_unique_ids TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'failed', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    response TEXT,
    last_error TEXT,
    ambiguous INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    delivered_at INTEGER,
    retry_since INTEGER NOT NULL,
    request_id TEXT,
    patient_hash TEXT NOT NULL,
    actor TEXT NOT NULL,
    context TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_submission_due ON outbox_submission (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_submission_created ON outbox_submission (created_at);
CREATE INDEX IF NOT EXISTS outbox_submission_fingerprint ON outbox_submission (actor, fingerprint);
-- payloads are written once and never updated: kept out of the hot, often-updated row
CREATE TABLE IF NOT EXISTS outbox_payload (
    submission_id TEXT PRIMARY KEY REFERENCES outbox_submission (id),
    content_type TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_document (
    unique_id TEXT NOT NULL,
    submission_id TEXT NOT NULL REFERENCES outbox_submission (id),
    PRIMARY KEY (unique_id, submission_id)
);
CREATE TABLE IF NOT EXISTS outbox_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    event TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor TEXT NOT NULL,
    submission_id TEXT,
    patient_hash TEXT,
    document_unique_ids TEXT NOT NULL,
    request_id TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_audit_submission ON outbox_audit (submission_id, seq);
CREATE INDEX IF NOT EXISTS outbox_audit_at ON outbox_audit (at);
CREATE TRIGGER IF NOT EXISTS outbox_audit_no_update BEFORE UPDATE ON outbox_audit
BEGIN SELECT RAISE(ABORT, 'outbox_audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS outbox_audit_no_delete BEFORE DELETE ON outbox_audit
BEGIN SELECT RAISE(ABORT, 'outbox_audit is append-only'); END;
"""
# Version 2 adds the document registry (issue 10); a version-1 store gets the new table when next opened.
SCHEMA = SCHEMA + SQLITE_DDL + "PRAGMA user_version = 2;\nCOMMIT;\n"

_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


class SqliteOutbox(SqlOutbox):
    def __init__(
        self,
        path: Path | str,
        *,
        clock: Clock = system_now,
        new_id: Callable[[], str] | None = None,
        busy_timeout: float = 30.0,
        synchronous: str = "FULL",
    ) -> None:
        super().__init__(clock=clock, new_id=new_id)
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {_SYNCHRONOUS}")
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous.upper()
        self._connections = ThreadConnections(self._connect, sqlite3.Connection.close)
        try:
            conn = self._conn()
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutboxUnavailableError(f"SQLite refused WAL mode for {self.path} (got {mode})")
            conn.executescript(SCHEMA)
            add_sqlite_columns(conn)  # columns later versions added (traceparent): old stores gain them here
            migrate_sqlite(conn)  # the infocentre's columns (issue 13), added to any earlier store
        except sqlite3.OperationalError as exc:
            raise OutboxUnavailableError(f"cannot open the outbox database ({exc})") from exc

    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    def _connect(self) -> sqlite3.Connection:
        # used by one thread only; check_same_thread=False so that close() and thread exit can close it
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[Cursor]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.OperationalError as exc:
            raise OutboxUnavailableError(f"SQLite: {exc}") from exc
        try:
            yield conn.cursor()
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            _rollback(conn)
            raise OutboxUnavailableError(f"SQLite: {exc}") from exc
        except BaseException:
            _rollback(conn)
            raise

    def close(self) -> None:
        self._connections.close_all()

    def enqueue(self, new: NewSubmission) -> EnqueueResult:
        try:
            return super().enqueue(new)
        finally:
            if len(new.payload.body) >= BLOB_IO_AT:  # its pages would stay in this connection's cache (2 MB)
                self._conn().execute("PRAGMA shrink_memory")

    def _insert_payload(self, cur: Cursor, record_id: str, payload: Payload) -> None:
        """A large payload is written through incremental blob I/O into a zeroblob (the last column: never
        materialised). Bound as a parameter, SQLite would copy it twice (the value, then the record) while the
        caller still holds it: three times its size at once."""
        if len(payload.body) < BLOB_IO_AT:
            super()._insert_payload(cur, record_id, payload)
            return
        view = memoryview(payload.body)
        sql = "INSERT INTO outbox_payload (submission_id, content_type, body) VALUES (?, ?, zeroblob(?))"
        self._exec(cur, sql, (record_id, payload.content_type, len(view)))
        assert isinstance(cur, sqlite3.Cursor) and cur.lastrowid is not None
        with cur.connection.blobopen("outbox_payload", "body", cur.lastrowid) as blob:
            for start in range(0, len(view), BLOB_IO_CHUNK):
                blob.write(view[start : start + BLOB_IO_CHUNK])

    def _ts(self, value: datetime) -> int:
        if value.tzinfo is None:
            raise ValueError("outbox timestamps must be timezone-aware")
        return (value - _EPOCH) // _MICRO

    def _from_ts(self, value: Any) -> datetime:
        return _EPOCH + int(value) * _MICRO

    def _json(self, value: Any) -> str:
        return json_text(value)

    def _from_json(self, value: Any) -> Any:
        return None if value is None else json.loads(value)


BLOB_IO_AT = 1 << 20
BLOB_IO_CHUNK = 1 << 20


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:  # no transaction left to roll back (SQLite already did)
        pass
