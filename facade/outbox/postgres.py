"""PostgreSQL outbox: the same contract as SQLite, for several facade instances behind a load balancer.

Relays claim with ``SELECT ... FOR UPDATE SKIP LOCKED`` plus a lease: two instances never take the same record,
and a record whose holder vanished is taken over once its lease expires. Enqueues touching the same
idempotency key or document uniqueId are serialised with transaction-scoped advisory locks. One connection per
thread (psycopg 3, autocommit + explicit transactions); a broken connection is replaced on next use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from facade.ids import system_now
from facade.outbox.columns import ADDED_COLUMNS, missing_postgres_ddl
from facade.outbox.connections import ThreadConnections
from facade.outbox.indicator_columns import POSTGRES_DDL as INDICATOR_DDL
from facade.outbox.indicators import POSTGRES
from facade.outbox.record import OutboxUnavailableError
from facade.outbox.registry import POSTGRES_DDL
from facade.outbox.sql import Clock, Cursor
from facade.outbox.store import SqlOutbox

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DDL_LOCK = 0x6F7574626F78  # "outbox": serialises concurrent schema creation by several instances

DDL = """
CREATE TABLE IF NOT EXISTS outbox_submission (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    document_unique_ids JSONB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'failed', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMPTZ,
    response JSONB,
    last_error JSONB,
    ambiguous BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ,
    retry_since TIMESTAMPTZ NOT NULL,
    request_id TEXT,
    patient_hash TEXT NOT NULL,
    actor TEXT NOT NULL,
    context JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_submission_due ON outbox_submission (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_submission_created ON outbox_submission (created_at);
CREATE INDEX IF NOT EXISTS outbox_submission_fingerprint ON outbox_submission (actor, fingerprint);
CREATE TABLE IF NOT EXISTS outbox_payload (
    submission_id TEXT PRIMARY KEY REFERENCES outbox_submission (id),
    content_type TEXT NOT NULL,
    body BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_document (
    unique_id TEXT NOT NULL,
    submission_id TEXT NOT NULL REFERENCES outbox_submission (id),
    PRIMARY KEY (unique_id, submission_id)
);
CREATE TABLE IF NOT EXISTS outbox_audit (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    event TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor TEXT NOT NULL,
    submission_id TEXT,
    patient_hash TEXT,
    document_unique_ids JSONB NOT NULL,
    request_id TEXT,
    detail JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_audit_submission ON outbox_audit (submission_id, seq);
CREATE INDEX IF NOT EXISTS outbox_audit_at ON outbox_audit (at);
CREATE OR REPLACE FUNCTION outbox_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'outbox_audit is append-only';
END
$$;
CREATE OR REPLACE TRIGGER outbox_audit_no_change BEFORE UPDATE OR DELETE ON outbox_audit
    FOR EACH ROW EXECUTE FUNCTION outbox_audit_append_only();
CREATE OR REPLACE TRIGGER outbox_audit_no_truncate BEFORE TRUNCATE ON outbox_audit
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_audit_append_only();
"""
DDL += POSTGRES_DDL  # the document registry (issue 10): created on an existing store at its next start
DDL += INDICATOR_DDL  # the infocentre's registry columns and indexes (issue 13), added the same way


class PostgresOutbox(SqlOutbox):
    lock_rows = " FOR UPDATE"
    dialect = POSTGRES
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "facade_outbox",
        clock: Clock = system_now,
        new_id: Callable[[], str] | None = None,
        connect_timeout: int = 10,
    ) -> None:
        super().__init__(clock=clock, new_id=new_id)
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"schema must match {_SCHEMA_NAME.pattern}")
        self.schema = schema
        params = conninfo_to_dict(dsn)
        # tables are found through search_path, so every statement stays schema-agnostic
        options = f"{params.get('options') or ''} -c search_path={schema}".strip()
        self._conninfo: dict[str, Any] = {**params, "options": options, "connect_timeout": connect_timeout}
        self._connections: ThreadConnections[psycopg.Connection[Any]] = ThreadConnections(
            self._connect, psycopg.Connection.close
        )
        with self._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")  # validated identifier above
        with self._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
            cur.execute(DDL)
            # columns added later (traceparent, issue 13): only those an older store lacks
            cur.execute(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = ANY(%s)",
                (schema, sorted({table for table, _, _ in ADDED_COLUMNS})),
            )
            for statement in missing_postgres_ddl({(t, c) for t, c in cur.fetchall()}):
                cur.execute(statement)

    def _conn(self) -> psycopg.Connection[Any]:
        return self._connections.get(usable=lambda conn: not (conn.closed or conn.broken))

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(autocommit=True, **self._conninfo)
        except psycopg.OperationalError as exc:
            raise OutboxUnavailableError(f"cannot connect to PostgreSQL ({type(exc).__name__})") from exc

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[Cursor]:
        conn = self._conn()
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except psycopg.OperationalError as exc:
            # connection lost, server shutting down...: the caller sees "store unavailable" (503), never the DSN
            if conn.broken:
                self._connections.discard()
            raise OutboxUnavailableError(f"PostgreSQL: {type(exc).__name__}: {exc.sqlstate or 'no sqlstate'}") from exc

    def close(self) -> None:
        self._connections.close_all()

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s")

    def _lock_keys(self, cur: Cursor, keys: Sequence[str]) -> None:
        for key in keys:  # sorted by the caller: a fixed order, so no deadlock between two enqueues
            self._exec(cur, "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (key,))

    def _ts(self, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("outbox timestamps must be timezone-aware")
        return value

    def _from_ts(self, value: Any) -> datetime:
        if not isinstance(value, datetime):
            raise TypeError(f"expected a timestamp, got {type(value).__name__}")
        return value.astimezone(UTC)

    def _json(self, value: Any) -> Jsonb:
        return Jsonb(value)

    def _from_json(self, value: Any) -> Any:
        return value
