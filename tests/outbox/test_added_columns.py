"""Columns added after a store was created (facade/outbox/columns.py: traceparent) appear when an older store is
next opened, on SQLite and PostgreSQL; older rows read them as NULL; no table is rewritten."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import psycopg

from facade.outbox.audit import AuditEvent
from facade.outbox.columns import ADDED_COLUMNS

from .conftest import Backend, FakeClock, make_submission

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _drop_added_columns(backend: Backend) -> None:
    """Back to the shape of a store written before the columns existed."""
    if backend.name == "sqlite":
        with sqlite3.connect(backend.location) as conn:
            for table, column, _ in ADDED_COLUMNS:
                conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        return
    with psycopg.connect(backend.location, autocommit=True) as conn:
        for table, column, _ in ADDED_COLUMNS:
            conn.execute(f"ALTER TABLE {backend.schema}.{table} DROP COLUMN {column}")


def test_an_older_store_gains_the_columns_and_keeps_its_rows(backend: Backend, clock: FakeClock) -> None:
    store = backend.open(clock=clock)
    old = store.enqueue(make_submission()).record
    store.close()
    _drop_added_columns(backend)

    reopened = backend.open(clock=clock)
    kept = reopened.get(old.id)
    assert kept is not None and kept.traceparent is None and kept.fingerprint == old.fingerprint
    new = reopened.enqueue(make_submission(traceparent=TRACEPARENT)).record
    assert new.traceparent == TRACEPARENT
    reopened.append_audit(AuditEvent.REJECTED, actor="client-a", outcome="x", traceparent=TRACEPARENT)
    trail = reopened.audit_for_submission(new.id)
    assert [e.traceparent for e in trail] == [TRACEPARENT]  # the enqueue entry carries the request's trace
    assert [e.traceparent for e in reopened.audit_for_submission(old.id)] == [None]
    assert reopened.audit_between(old.created_at, clock() + timedelta(seconds=1))[-1].traceparent == TRACEPARENT


def test_opening_a_current_store_again_changes_nothing(backend: Backend, clock: FakeClock) -> None:
    first = backend.open(clock=clock)
    record = first.enqueue(make_submission(traceparent=TRACEPARENT)).record
    second = backend.open(clock=clock)  # a second instance on the same storage: no ALTER, no error
    assert second.get(record.id).traceparent == TRACEPARENT  # type: ignore[union-attr]
