"""The document registry: every document the facade accepted, kept in the outbox's store (issue 10).

One row per (document uniqueId, submission), written in the enqueue transaction: the identifiers the facade
generated and sent (entryUUID, setId, version), the patient as a keyed hash, type, visibility codes, content
hash/size, what it replaces, and its availability status. The DMP's answer is the submission's state (joined).
A replaced document becomes ``deprecated`` only in the transaction that records the DMP's acceptance of its
replacement (``complete``): the registry never runs ahead of the DMP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any


class Availability(StrEnum):
    """XDS availabilityStatus as the DMP knows it (JDV_J52)."""

    APPROVED = "approved"
    DEPRECATED = "deprecated"  # replaced (RPLC accepted by the DMP)
    ARCHIVED = "archived"
    DELETED = "deleted"


@dataclass(frozen=True)
class DocumentEntry:
    """What the facade sent of one document (registry row without its state)."""

    unique_id: str
    entry_uuid: str  # urn:uuid:...
    set_id: str
    version: int
    type_code: tuple[str, str, str]  # (system OID, code, display)
    confidentiality: tuple[tuple[str, str, str], ...]  # XDS confidentialityCodes (system OID, code, display)
    title: str
    mime_type: str
    sha1_hex: str  # of the CDA bytes sent
    size: int
    content_sha256: str  # of the client's content (the document's meaning, independent of the rendering)
    replaces_unique_id: str | None = None
    replaces_entry_uuid: str | None = None
    # what the infocentre groups and measures by (issue 13); empty / None in rows written before it
    site: str = ""  # FINESS EG of the emitting site
    document_time: datetime | None = None  # the document's creationTime (CDA effectiveTime)
    service_time: datetime | None = None  # end (else start) of the documented act (serviceStopTime / StartTime)


@dataclass(frozen=True)
class RegisteredDocument(DocumentEntry):
    """A registry row: the document, its patient, availability and the submission that carried it."""

    submission_id: str = ""
    patient_hash: str = ""
    actor: str = ""
    availability: Availability = Availability.APPROVED
    replaced_by: str | None = None  # entryUUID of the document that replaced it (once the DMP accepted it)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    submission_state: str = "pending"  # the DMP's answer so far: the carrying submission's outbox state
    delivered_at: datetime | None = None


_ENTRY_FIELDS = tuple(f.name for f in fields(DocumentEntry))
COLUMNS = (
    *_ENTRY_FIELDS,
    "submission_id",
    "patient_hash",
    "actor",
    "availability",
    "replaced_by",
    "created_at",
    "updated_at",
)
_JSON = frozenset({"type_code", "confidentiality"})
_TIMES = frozenset({"document_time", "service_time"})
# Written at insert for the infocentre's aggregates (plain, indexable columns), never read back into the objects.
INDICATOR_COLUMNS = ("doc_type", "masked", "invisible")
MASKED_CODES = frozenset({"MASQUE_PS"})
INVISIBLE_CODES = frozenset({"INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"})


def visibility_flags(confidentiality: Iterable[Sequence[str]]) -> tuple[int, int]:
    """(masked, invisible) of the infocentre's columns, from XDS confidentialityCodes (system, code, display)."""
    codes = {c[1] for c in confidentiality}
    return int(bool(codes & MASKED_CODES)), int(bool(codes & INVISIBLE_CODES))


_R_COLS = ", ".join(f"r.{c}" for c in COLUMNS)
SELECT = f"SELECT {_R_COLS}, s.state, s.delivered_at FROM registry_document r JOIN outbox_submission s ON s.id = r.submission_id"  # noqa: S608, E501
_INSERTED = (*COLUMNS, *INDICATOR_COLUMNS)
INSERT = f"INSERT INTO registry_document ({', '.join(_INSERTED)}) VALUES ({', '.join('?' for _ in _INSERTED)})"  # noqa: S608
# The replaced documents of a delivered submission: deprecated in the transaction that records the delivery.
DEPRECATE = (
    "UPDATE registry_document SET availability = 'deprecated', replaced_by = ?, updated_at = ?"
    " WHERE entry_uuid = ? AND availability IN ('approved', 'archived')"
)

SQLITE_DDL = """
CREATE TABLE IF NOT EXISTS registry_document (
    unique_id TEXT NOT NULL,
    entry_uuid TEXT NOT NULL,
    set_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    type_code TEXT NOT NULL,
    confidentiality TEXT NOT NULL,
    title TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    sha1_hex TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_sha256 TEXT NOT NULL,
    replaces_unique_id TEXT,
    replaces_entry_uuid TEXT,
    submission_id TEXT NOT NULL REFERENCES outbox_submission (id),
    patient_hash TEXT NOT NULL,
    actor TEXT NOT NULL,
    availability TEXT NOT NULL CHECK (availability IN ('approved', 'deprecated', 'archived', 'deleted')),
    replaced_by TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (unique_id, submission_id)
);
CREATE INDEX IF NOT EXISTS registry_document_entry_uuid ON registry_document (entry_uuid);
CREATE INDEX IF NOT EXISTS registry_document_replaces ON registry_document (replaces_entry_uuid);
"""
POSTGRES_DDL = (
    SQLITE_DDL.replace("type_code TEXT", "type_code JSONB")
    .replace("confidentiality TEXT", "confidentiality JSONB")
    .replace("created_at INTEGER", "created_at TIMESTAMPTZ")
    .replace("updated_at INTEGER", "updated_at TIMESTAMPTZ")
)


def row_values(
    entry: DocumentEntry,
    *,
    submission_id: str,
    patient_hash: str,
    actor: str,
    now: Any,
    encode_json: Callable[[Any], Any],
    encode_ts: Callable[[datetime], Any],
) -> tuple[Any, ...]:
    """The INSERT parameters of one document (``now``: the store's timestamp encoding)."""
    values = [_encode(k, getattr(entry, k), encode_json, encode_ts) for k in _ENTRY_FIELDS]
    derived = (entry.type_code[1], *visibility_flags(entry.confidentiality))
    return (*values, submission_id, patient_hash, actor, Availability.APPROVED.value, None, now, now, *derived)


def _encode(key: str, value: Any, encode_json: Callable[[Any], Any], encode_ts: Callable[[datetime], Any]) -> Any:
    if key in _JSON:
        return encode_json(list(map(list, value)) if key == "confidentiality" else list(value))
    if key in _TIMES:
        return None if value is None else encode_ts(value)
    return value


def from_row(
    row: Sequence[Any], *, decode_json: Callable[[Any], Any], decode_ts: Callable[[Any], datetime]
) -> RegisteredDocument:
    v = dict(zip((*COLUMNS, "submission_state", "delivered_at"), row, strict=True))
    v["type_code"] = tuple(decode_json(v["type_code"]))
    v["confidentiality"] = tuple(tuple(c) for c in decode_json(v["confidentiality"]))
    v["availability"] = Availability(v["availability"])
    v["site"] = v["site"] or ""
    for ts in ("created_at", "updated_at", "delivered_at", *_TIMES):
        v[ts] = None if v[ts] is None else decode_ts(v[ts])
    return RegisteredDocument(**v)


__all__ = ["Availability", "DocumentEntry", "RegisteredDocument"]
