"""The registry columns and indexes the infocentre reads (issue 13), added to a store of any earlier version.

Additive only: ``ALTER TABLE ... ADD COLUMN`` on the registry (no table is rewritten), then a one-off backfill of
what earlier rows already hold (the type code and visibility codes are in their JSON columns; the site and the
document's dates were not recorded: they stay empty and are reported as such), then the indexes."""

from __future__ import annotations

import sqlite3

# (column, SQLite declaration, PostgreSQL declaration)
ADDED = (
    ("site", "TEXT", "TEXT"),
    ("doc_type", "TEXT", "TEXT"),
    ("document_time", "INTEGER", "TIMESTAMPTZ"),
    ("service_time", "INTEGER", "TIMESTAMPTZ"),
    ("masked", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
    ("invisible", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
)
_INDEXES = """
CREATE INDEX IF NOT EXISTS registry_document_indicators ON registry_document (created_at, site, doc_type);
CREATE INDEX IF NOT EXISTS outbox_audit_event_at ON outbox_audit (event, at);
"""
_BACKFILL = (
    "UPDATE registry_document SET doc_type = {type_code},"
    " masked = CASE WHEN {conf} LIKE '%\"MASQUE_PS\"%' THEN 1 ELSE 0 END,"
    " invisible = CASE WHEN {conf} LIKE '%\"INVISIBLE_PATIENT\"%'"
    " OR {conf} LIKE '%\"INVISIBLE_REPRESENTANTS_LEGAUX\"%' THEN 1 ELSE 0 END"
    " WHERE doc_type IS NULL;"
)
SQLITE_BACKFILL = _BACKFILL.format(type_code="json_extract(type_code, '$[1]')", conf="confidentiality")
POSTGRES_DDL = (
    "ALTER TABLE registry_document "
    + ", ".join(f"ADD COLUMN IF NOT EXISTS {name} {pg}" for name, _, pg in ADDED)
    + ";\n"
    + _BACKFILL.format(type_code="type_code->>1", conf="confidentiality::text")
    + _INDEXES
)


def migrate_sqlite(conn: sqlite3.Connection) -> None:
    """Add the missing columns, backfill, index: one IMMEDIATE transaction, so two processes opening the same
    file cannot both add a column."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        have = {row[1] for row in conn.execute("PRAGMA table_info(registry_document)")}
        for name, decl, _ in ADDED:
            if name not in have:
                conn.execute(f"ALTER TABLE registry_document ADD COLUMN {name} {decl}")
        conn.execute(SQLITE_BACKFILL)
        for statement in filter(str.strip, _INDEXES.split(";")):
            conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
