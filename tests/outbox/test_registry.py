"""The document registry (issue 10) on both back ends: written with the record, read back, and a replaced
document deprecated only when the DMP accepted its replacement; a version-1 SQLite store gains the table."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from facade.errors import Problem
from facade.outbox import Failure, IdempotencyConflictError, SqliteOutbox
from facade.outbox.registry import Availability, DocumentEntry
from facade.outbox.store import SqlOutbox
from tests.outbox.conftest import FakeClock, make_submission

LEASE = timedelta(seconds=60)


def _entry(unique_id: str, *, replaces: DocumentEntry | None = None) -> DocumentEntry:
    return DocumentEntry(
        unique_id=unique_id,
        entry_uuid=f"urn:uuid:{uuid.uuid4()}",
        set_id=replaces.set_id if replaces else f"{unique_id}.9",
        version=replaces.version + 1 if replaces else 1,
        type_code=("2.16.840.1.113883.6.1", "11490-0", "Lettre de liaison"),
        confidentiality=(("2.16.840.1.113883.5.25", "N", "Normal"), ("1.2.250.1.213.1.1.4.13", "MASQUE_PS", "M")),
        title="Lettre",
        mime_type="text/xml",
        sha1_hex="ab" * 20,
        size=1234,
        content_sha256="sha256:" + "cd" * 32,
        replaces_unique_id=replaces.unique_id if replaces else None,
        replaces_entry_uuid=replaces.entry_uuid if replaces else None,
    )


def _accept(outbox: SqlOutbox, entry: DocumentEntry) -> str:
    return outbox.enqueue(make_submission(unique_ids=(entry.unique_id,), documents=(entry,))).record.id


def _deliver(outbox: SqlOutbox, clock: FakeClock, submission_id: str) -> None:
    assert outbox.claim_id(submission_id, clock(), LEASE, "r") is not None
    outbox.complete(submission_id, {"status": "Success"}, owner="r")


def test_a_document_is_registered_with_its_record_and_read_back(outbox: SqlOutbox) -> None:
    entry = _entry("1.2.250.1.999.1.1.1")
    submission_id = _accept(outbox, entry)
    for found in (outbox.find_document(entry_uuid=entry.entry_uuid), outbox.find_document(unique_id=entry.unique_id)):
        assert found is not None
        assert found.unique_id == entry.unique_id and found.entry_uuid == entry.entry_uuid
        assert (found.set_id, found.version, found.confidentiality) == (entry.set_id, 1, entry.confidentiality)
        assert found.submission_id == submission_id and found.actor == "client-a"
        assert found.patient_hash.startswith("hmac-sha256:") and found.availability is Availability.APPROVED
        assert found.submission_state == "pending"
    assert outbox.find_document(unique_id="1.2.250.1.999.1.1.404") is None


def test_a_refused_enqueue_registers_nothing(outbox: SqlOutbox) -> None:
    entry = _entry("1.2.250.1.999.1.1.2")
    _accept(outbox, entry)
    clash = _entry("1.2.250.1.999.1.1.2")  # the same uniqueId in another request: 409, nothing written
    with pytest.raises(IdempotencyConflictError):
        outbox.enqueue(make_submission(unique_ids=(clash.unique_id,), request=b"other", documents=(clash,)))
    assert outbox.find_document(entry_uuid=clash.entry_uuid) is None


def test_the_replaced_document_is_deprecated_only_when_the_replacement_is_delivered(
    outbox: SqlOutbox, clock: FakeClock
) -> None:
    old = _entry("1.2.250.1.999.1.1.3")
    _deliver(outbox, clock, _accept(outbox, old))
    new = _entry("1.2.250.1.999.1.1.4", replaces=old)
    submission_id = _accept(outbox, new)
    assert outbox.find_document(entry_uuid=old.entry_uuid).availability is Availability.APPROVED  # type: ignore[union-attr]
    assert [d.unique_id for d in outbox.replacements_of(old.entry_uuid)] == [new.unique_id]

    _deliver(outbox, clock, submission_id)

    replaced = outbox.find_document(entry_uuid=old.entry_uuid)
    assert replaced is not None and replaced.availability is Availability.DEPRECATED
    assert replaced.replaced_by == new.entry_uuid
    current = outbox.find_document(entry_uuid=new.entry_uuid)
    assert current is not None and current.availability is Availability.APPROVED
    assert current.submission_state == "delivered" and current.delivered_at is not None


def test_a_refused_replacement_leaves_the_old_document_current(outbox: SqlOutbox, clock: FakeClock) -> None:
    old = _entry("1.2.250.1.999.1.1.5")
    _deliver(outbox, clock, _accept(outbox, old))
    new = _entry("1.2.250.1.999.1.1.6", replaces=old)
    submission_id = _accept(outbox, new)
    assert outbox.claim_id(submission_id, clock(), LEASE, "r") is not None
    outbox.fail(submission_id, Failure("xds-metadata-rejected", "XDSRegistryMetadataError"), None, owner="r")

    assert outbox.find_document(entry_uuid=old.entry_uuid).availability is Availability.APPROVED  # type: ignore[union-attr]
    assert outbox.find_document(entry_uuid=new.entry_uuid) is None  # dead: never in the DMP
    assert outbox.replacements_of(old.entry_uuid) == []


def test_a_version_1_sqlite_store_gains_the_registry(tmp_path: Path, clock: FakeClock) -> None:
    fresh = tmp_path / "v1.sqlite"
    store = SqliteOutbox(fresh, clock=clock)
    store.close()
    with sqlite3.connect(fresh) as conn:  # back to the version-1 schema: no registry table
        conn.execute("DROP TABLE registry_document")
        conn.execute("PRAGMA user_version = 1")
    reopened = SqliteOutbox(fresh, clock=clock)
    try:
        entry = _entry("1.2.250.1.999.1.1.7")
        _accept(reopened, entry)
        assert reopened.find_document(unique_id=entry.unique_id) is not None
        with sqlite3.connect(fresh) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        reopened.close()


def test_a_second_replacement_of_one_document_is_refused_in_the_store(outbox: SqlOutbox, clock: FakeClock) -> None:
    """Checked under a lock in the enqueue transaction: two replacements racing past the service's check cannot
    both be accepted."""
    old = _entry("1.2.250.1.999.1.1.8")
    _deliver(outbox, clock, _accept(outbox, old))
    first = _entry("1.2.250.1.999.1.1.9", replaces=old)
    _accept(outbox, first)
    second = _entry("1.2.250.1.999.1.1.10", replaces=old)
    with pytest.raises(IdempotencyConflictError) as refused:
        outbox.enqueue(make_submission(unique_ids=(second.unique_id,), documents=(second,), actor="client-b"))
    assert refused.value.problem is Problem.REPLACED_SUPERSEDED
    assert refused.value.foreign and first.unique_id not in str(refused.value)  # another client's: not named
    assert outbox.find_document(entry_uuid=second.entry_uuid) is None


def test_reconcile_takes_the_dmp_availability_and_confidentiality(outbox: SqlOutbox) -> None:
    """After an ITI-57 update the DMP is the truth (issue 11): both back ends store what it said, ids unchanged."""
    entry = _entry("1.2.250.1.999.1.1.7")
    _accept(outbox, entry)
    codes = (("2.16.840.1.113883.5.25", "N", "Normal"),)
    assert outbox.reconcile_document(entry.unique_id, availability=Availability.ARCHIVED, confidentiality=codes) == 1
    found = outbox.find_document(unique_id=entry.unique_id)
    assert found is not None and found.availability is Availability.ARCHIVED and found.confidentiality == codes
    assert found.entry_uuid == entry.entry_uuid  # the id the facade answered with keeps resolving
    assert (
        outbox.reconcile_document("1.2.250.1.999.1.1.404", availability=Availability.DELETED, confidentiality=codes)
        == 0
    )


def test_reconciled_visibility_and_deletion_are_what_the_indicators_count(outbox: SqlOutbox, clock: FakeClock) -> None:
    """Issue 13 after issue 11: a PATCH mask (ITI-57, reconciled) counts as masked, in both back ends; once deleted
    the document counts as deleted only (the DMP no longer holds it for anyone to see masked)."""
    from facade.outbox.indicators import IndicatorQuery

    entry = _entry("1.2.250.1.999.1.1.11")
    _deliver(outbox, clock, _accept(outbox, entry))
    query = IndicatorQuery(clock() - timedelta(days=1), clock() + timedelta(days=1), period="all")

    def counts() -> tuple[int, int, int]:
        (volume,) = outbox.indicators(query).volumes
        return volume.masked, volume.invisible, volume.deleted

    assert counts() == (1, 0, 0)  # sent masked (_entry)
    normal = (("2.16.840.1.113883.5.25", "N", "Normal"),)
    outbox.reconcile_document(entry.unique_id, availability=Availability.APPROVED, confidentiality=normal)
    assert counts() == (0, 0, 0)  # the DMP says it is no longer masked
    masked = (*normal, ("1.2.250.1.213.1.1.4.13", "MASQUE_PS", "Masqué"))
    outbox.reconcile_document(entry.unique_id, availability=Availability.APPROVED, confidentiality=masked)
    assert counts() == (1, 0, 0)
    hidden = (*masked, ("1.2.250.1.213.1.1.4.13", "INVISIBLE_PATIENT", "Invisible"))
    outbox.reconcile_document(entry.unique_id, availability=Availability.ARCHIVED, confidentiality=hidden)
    assert counts() == (1, 1, 0)
    outbox.reconcile_document(entry.unique_id, availability=Availability.DELETED, confidentiality=hidden)
    assert counts() == (0, 0, 1)
