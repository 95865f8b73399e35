"""Columns added to existing stores (additive migrations): a store created by an earlier version gains them when it
is next opened, on SQLite and PostgreSQL alike; no table is rewritten and old rows read the column as NULL.

``traceparent`` (issue 13): the W3C trace context of the request that created a submission (its span), and of the
request or relay attempt that wrote an audit entry. One list, so each dialect adds exactly the same columns.
"""

from __future__ import annotations

import sqlite3

ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (  # (table, column, SQL type on both dialects)
    ("outbox_submission", "traceparent", "TEXT"),
    ("outbox_audit", "traceparent", "TEXT"),
)


def missing_postgres_ddl(present: set[tuple[str, str]]) -> list[str]:
    """``ALTER TABLE ... ADD COLUMN IF NOT EXISTS`` for the columns not in ``present`` ((table, column) pairs read
    from information_schema). Only what is missing: an ALTER takes an ACCESS EXCLUSIVE lock even when the column
    exists, and instances already running would deadlock against it."""
    return [
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}"
        for table, column, kind in ADDED_COLUMNS
        if (table, column) not in present
    ]


def add_sqlite_columns(conn: sqlite3.Connection) -> list[str]:
    """Add the missing columns in one ``BEGIN IMMEDIATE`` transaction (two processes opening the same old file
    cannot both add a column: the second sees it once it gets the write lock). Returns ``table.column`` added."""
    added: list[str] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table, column, kind in ADDED_COLUMNS:
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                added.append(f"{table}.{column}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return added
