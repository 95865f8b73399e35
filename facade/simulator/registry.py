"""The simulator's document registry: ``STATE/registry.sqlite`` + ``STATE/documents/<uniqueId>.xml``.

Persistent, so a duplicate uniqueId is detected across restarts (the outbox relies on that after a crash).
Registry-managed metadata the sender does not provide (entryUUID, repositoryUniqueId, availabilityStatus) is
assigned here, as the DMP does.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from lxml import etree

from facade import xmldoc
from facade.simulator.config import DMP_REPOSITORY_UNIQUE_ID
from facade.simulator.entry_form import registry_form, to_bytes

_RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submission (
    unique_id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    source_id TEXT,
    received_at TEXT NOT NULL,
    request_number INTEGER
);
CREATE TABLE IF NOT EXISTS document (
    unique_id TEXT PRIMARY KEY,
    entry_uuid TEXT NOT NULL UNIQUE,
    submission_unique_id TEXT NOT NULL REFERENCES submission(unique_id),
    patient_id TEXT NOT NULL,
    mime_type TEXT,
    size INTEGER NOT NULL,
    hash TEXT NOT NULL,
    class_code TEXT,
    type_code TEXT,
    format_code TEXT,
    is_signature INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    replaces TEXT,
    received_at TEXT NOT NULL
);
-- every metadata version of every DocumentEntry, as the registry answers ITI-18 (the ExtrinsicObject in registry form)
CREATE TABLE IF NOT EXISTS entry (
    entry_uuid TEXT PRIMARY KEY,
    lid TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    metadata BLOB NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (lid, version)
);
CREATE INDEX IF NOT EXISTS entry_by_unique_id ON entry (unique_id);
CREATE INDEX IF NOT EXISTS entry_by_patient ON entry (patient_id);
"""


@dataclass(frozen=True)
class StoredDocument:
    unique_id: str
    entry_uuid: str
    submission_unique_id: str
    patient_id: str
    mime_type: str | None
    size: int
    hash: str  # SHA-1 hex of the stored bytes
    class_code: str | None
    type_code: str | None
    format_code: str | None
    is_signature: bool
    status: str
    replaces: str | None  # entryUUID of the document this one replaced (RPLC)
    received_at: str
    # the current metadata version (ITI-57 adds versions): filled by ``documents()``, the admin listing
    version: int = 1
    current_entry_uuid: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NewDocument:
    """What the ITI-41 processing hands to ``Registry.store`` for one accepted DocumentEntry."""

    unique_id: str
    patient_id: str
    mime_type: str | None
    data: bytes
    hash: str
    class_code: str | None
    type_code: str | None
    format_code: str | None
    is_signature: bool
    replaces: str | None = None
    entry_uuid: str | None = None  # sender-given urn:uuid entryUUID, else one is assigned
    metadata: etree._Element | None = None  # the submitted ExtrinsicObject (kept in registry form for ITI-18)


@dataclass(frozen=True)
class StoredEntry:
    """One metadata version of a DocumentEntry (table ``entry``): what ITI-18 answers."""

    entry_uuid: str
    lid: str
    unique_id: str
    version: int
    status: str
    patient_id: str
    metadata: bytes  # the ExtrinsicObject in registry form (entry_form.registry_form), status as first stored
    received_at: str

    def element(self) -> etree._Element:
        """The ExtrinsicObject as the registry answers it now: the ``status`` column is the truth."""
        el = xmldoc.parse(self.metadata)
        el.set("status", self.status)
        return el


class ReplacedMeanwhile(Exception):
    """The entry an RPLC deprecates is no longer Approved when the submission is stored: nothing was stored."""

    def __init__(self, entry_uuid: str) -> None:
        super().__init__(f"RPLC : document {entry_uuid} déjà remplacé (Deprecated)")
        self.entry_uuid = entry_uuid


class Registry:
    def __init__(self, state_dir: Path, repository_unique_id: str = DMP_REPOSITORY_UNIQUE_ID) -> None:
        self.repository_unique_id = repository_unique_id
        self.db_path = state_dir / "registry.sqlite"
        self.documents_dir = state_dir / "documents"
        self.documents_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            with db:  # one transaction: commit on success, rollback on error
                yield db
        finally:
            db.close()

    def existing_unique_ids(self, unique_ids: Sequence[str]) -> set[str]:
        """Which of these ids are already registered (documents or submission sets)."""
        if not unique_ids:
            return set()
        marks = ",".join("?" * len(unique_ids))
        with self._connect() as db:
            rows = db.execute(
                f"SELECT unique_id FROM document WHERE unique_id IN ({marks}) "  # noqa: S608 (placeholders only)
                f"UNION SELECT unique_id FROM submission WHERE unique_id IN ({marks})",
                [*unique_ids, *unique_ids],
            ).fetchall()
        return {r["unique_id"] for r in rows}

    def by_entry_uuid(self, entry_uuid: str) -> StoredDocument | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM document WHERE entry_uuid = ?", (entry_uuid,)).fetchone()
        return _doc(row) if row else None

    def by_unique_id(self, unique_id: str) -> StoredDocument | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM document WHERE unique_id = ?", (unique_id,)).fetchone()
        return _doc(row) if row else None

    def documents(self) -> list[StoredDocument]:
        """Every document with its current metadata version's status, version and entryUUID (the latest ``entry``
        row of its uniqueId; a document without metadata versions keeps its own row's)."""
        with self._connect() as db:
            rows = db.execute(_CURRENT_DOCUMENTS).fetchall()
        return [
            replace(_doc(r), status=r["current_status"] or r["status"], version=r["current_version"] or 1,
                    current_entry_uuid=r["current_entry_uuid"] or r["entry_uuid"])
            for r in rows
        ]  # fmt: skip

    def content(self, unique_id: str) -> bytes | None:
        path = self._file(unique_id)
        return path.read_bytes() if path.is_file() else None

    def store(
        self,
        *,
        submission_unique_id: str,
        patient_id: str,
        source_id: str | None,
        received_at: str,
        request_number: int | None,
        documents: Sequence[NewDocument],
    ) -> list[StoredDocument]:
        """Register one submission atomically; files are written first so a registered row always has its file.
        An RPLC deprecates its target in the same transaction, only if it is still Approved (else ReplacedMeanwhile
        and nothing is stored: two replacements of one entry cannot both succeed)."""
        for doc in documents:
            self._file(doc.unique_id).write_bytes(doc.data)
        try:
            return self._insert(submission_unique_id, patient_id, source_id, received_at, request_number, documents)
        except BaseException:
            for doc in documents:
                self._file(doc.unique_id).unlink(missing_ok=True)
            raise

    def _insert(
        self,
        submission_unique_id: str,
        patient_id: str,
        source_id: str | None,
        received_at: str,
        request_number: int | None,
        documents: Sequence[NewDocument],
    ) -> list[StoredDocument]:
        stored = []
        with self._lock, self._connect() as db:
            db.execute(
                "INSERT INTO submission (unique_id, patient_id, source_id, received_at, request_number) "
                "VALUES (?, ?, ?, ?, ?)",
                (submission_unique_id, patient_id, source_id, received_at, request_number),
            )
            for doc in documents:
                entry_uuid = doc.entry_uuid or f"urn:uuid:{uuid.uuid4()}"
                db.execute(
                    "INSERT INTO document (unique_id, entry_uuid, submission_unique_id, patient_id, mime_type, size,"
                    " hash, class_code, type_code, format_code, is_signature, status, replaces, received_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        doc.unique_id,
                        entry_uuid,
                        submission_unique_id,
                        doc.patient_id,
                        doc.mime_type,
                        len(doc.data),
                        doc.hash,
                        doc.class_code,
                        doc.type_code,
                        doc.format_code,
                        int(doc.is_signature),
                        APPROVED,
                        doc.replaces,
                        received_at,
                    ),
                )
                if doc.metadata is not None:
                    self._insert_entry(db, doc, entry_uuid, received_at, self.repository_unique_id)
                if doc.replaces:
                    db.execute(
                        "UPDATE entry SET status = ? WHERE entry_uuid = ? AND status = ?",
                        (DEPRECATED, doc.replaces, APPROVED),
                    )
                    deprecated = db.execute(
                        "UPDATE document SET status = ? WHERE entry_uuid = ? AND status = ?",
                        (DEPRECATED, doc.replaces, APPROVED),
                    )
                    if deprecated.rowcount != 1:
                        raise ReplacedMeanwhile(doc.replaces)  # the transaction rolls back
                row = db.execute("SELECT * FROM document WHERE unique_id = ?", (doc.unique_id,)).fetchone()
                stored.append(_doc(row))
        return stored

    @staticmethod
    def _insert_entry(
        db: sqlite3.Connection, doc: NewDocument, entry_uuid: str, received_at: str, repository_unique_id: str
    ) -> None:
        assert doc.metadata is not None
        registry_slots = {"repositoryUniqueId": repository_unique_id, "hash": doc.hash, "size": str(len(doc.data))}
        form = registry_form(
            doc.metadata,
            entry_uuid=entry_uuid,
            lid=entry_uuid,
            version=1,
            status=APPROVED,
            registry_slots=registry_slots,
        )
        db.execute(
            "INSERT INTO entry (entry_uuid, lid, unique_id, version, status, patient_id, metadata, received_at)"
            " VALUES (?, ?, ?, 1, ?, ?, ?, ?)",
            (entry_uuid, entry_uuid, doc.unique_id, APPROVED, doc.patient_id, to_bytes(form), received_at),
        )

    def entries(
        self,
        *,
        patient_id: str | None = None,
        unique_ids: Sequence[str] = (),
        entry_uuids: Sequence[str] = (),
        statuses: Sequence[str] = (),
        lids: Sequence[str] = (),
    ) -> list[StoredEntry]:
        """Metadata versions matching every given filter (patient compared on INS + assigning authority)."""
        clauses, args = [], []
        filters = (("unique_id", unique_ids), ("entry_uuid", entry_uuids), ("status", statuses), ("lid", lids))
        for column, values in filters:
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                args += list(values)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as db:
            rows = db.execute(
                f"SELECT * FROM entry {where} ORDER BY received_at, rowid",  # noqa: S608 (placeholders only)
                args,
            ).fetchall()
        found = [StoredEntry(**{k: row[k] for k in row.keys()}) for row in rows]
        if patient_id is not None:
            found = [e for e in found if patient_key(e.patient_id) == patient_key(patient_id)]
        return found

    def update_status(self, entry_uuid: str, original: str, new: str) -> bool:
        """ITI-57 UpdateAvailabilityStatus, only from ``original`` (False: it changed meanwhile, nothing done).
        The document row (``/_simulator/documents``) follows its current version's status."""
        with self._lock, self._connect() as db:
            row = db.execute("SELECT unique_id FROM entry WHERE entry_uuid = ?", (entry_uuid,)).fetchone()
            done = db.execute(
                "UPDATE entry SET status = ? WHERE entry_uuid = ? AND status = ?", (new, entry_uuid, original)
            ).rowcount
            if done == 1 and row is not None:
                db.execute("UPDATE document SET status = ? WHERE unique_id = ?", (new, row["unique_id"]))
        return done == 1

    def add_version(self, current: StoredEntry, submitted: etree._Element, previous_status: str) -> StoredEntry:
        """ITI-57 metadata update: a new version of ``current``'s logical document, in registry form, keeping its
        status; ``current`` becomes ``previous_status`` (Deprecated) in the same transaction, only if still the latest
        (else ``ReplacedMeanwhile``, nothing stored)."""
        entry_uuid = f"urn:uuid:{uuid.uuid4()}"
        version = current.version + 1
        old = current.element()
        slots = {
            s.get("name") or "": (s.findtext(f"{_RIM}ValueList/{_RIM}Value") or "")
            for s in old.findall(f"{_RIM}Slot")
            if s.get("name") in ("repositoryUniqueId", "hash", "size")
        }
        form = registry_form(
            submitted, entry_uuid=entry_uuid, lid=current.lid, version=version, status=current.status,
            registry_slots=slots,
        )  # fmt: skip
        with self._lock, self._connect() as db:
            moved = db.execute(
                "UPDATE entry SET status = ? WHERE entry_uuid = ? AND status = ?",
                (previous_status, current.entry_uuid, current.status),
            ).rowcount
            if moved != 1:
                raise ReplacedMeanwhile(current.entry_uuid)
            db.execute(
                "INSERT INTO entry (entry_uuid, lid, unique_id, version, status, patient_id, metadata, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (entry_uuid, current.lid, current.unique_id, version, current.status, current.patient_id,
                 to_bytes(form), current.received_at),
            )  # fmt: skip
        return StoredEntry(entry_uuid, current.lid, current.unique_id, version, current.status, current.patient_id,
                           to_bytes(form), current.received_at)  # fmt: skip

    def _file(self, unique_id: str) -> Path:
        # uniqueIds reaching here were checked to be OIDs (digits and dots): safe as file names
        if not unique_id or not all(c.isdigit() or c == "." for c in unique_id):
            raise ValueError(f"not an OID: {unique_id!r}")
        return self.documents_dir / f"{unique_id}.xml"


_CURRENT_DOCUMENTS = """
SELECT d.*, e.status AS current_status, e.version AS current_version, e.entry_uuid AS current_entry_uuid
FROM document d LEFT JOIN entry e ON e.unique_id = d.unique_id
 AND e.version = (SELECT MAX(version) FROM entry WHERE unique_id = d.unique_id)
ORDER BY d.received_at, d.rowid
"""


def patient_key(cx: str) -> tuple[str, str]:
    """An HL7 CX patient id compared on its ID and assigning authority (a date or type suffix does not count)."""
    parts = cx.split("^")
    return (parts[0], parts[3] if len(parts) > 3 else "")


def _doc(row: sqlite3.Row) -> StoredDocument:
    return StoredDocument(
        unique_id=row["unique_id"],
        entry_uuid=row["entry_uuid"],
        submission_unique_id=row["submission_unique_id"],
        patient_id=row["patient_id"],
        mime_type=row["mime_type"],
        size=row["size"],
        hash=row["hash"],
        class_code=row["class_code"],
        type_code=row["type_code"],
        format_code=row["format_code"],
        is_signature=bool(row["is_signature"]),
        status=row["status"],
        replaces=row["replaces"],
        received_at=row["received_at"],
    )
