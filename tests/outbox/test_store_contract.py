"""The store contract, run on SQLite and PostgreSQL alike (parametrized ``backend`` fixture)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from facade.errors import Problem
from facade.outbox import (
    AuditEvent,
    Failure,
    IdempotencyConflictError,
    OutboxUnavailableError,
    SqliteOutbox,
    StaleLeaseError,
    State,
    SubmissionStateError,
    UnknownSubmissionError,
)
from facade.outbox.keys import client_idempotency_key, document_idempotency_key
from facade.outbox.record import InlineLease
from facade.outbox.store import SqlOutbox

from .conftest import T0, Backend, FakeClock, make_submission

LEASE = timedelta(minutes=5)
BUSY = Failure("xds-transient", "XDSRegistryBusy")


def events(outbox: SqlOutbox, submission_id: str) -> list[str]:
    return [entry.event for entry in outbox.audit_for_submission(submission_id)]


# --- enqueue -----------------------------------------------------------------------------------------------------


def test_enqueue_persists_the_payload_and_metadata_before_any_attempt(outbox: SqlOutbox, clock: FakeClock) -> None:
    new = make_submission(body=b"\x00binary\xffMTOM", context={"entries": [{"fullUrl": "urn:uuid:1"}]})
    result = outbox.enqueue(new)
    assert result.created
    stored = outbox.get(result.record.id)
    assert stored is not None
    assert stored.payload.body == b"\x00binary\xffMTOM"
    assert stored.payload.content_type == new.payload.content_type
    assert stored.state is State.PENDING
    assert stored.attempts == 0
    assert stored.ambiguous is False
    assert stored.next_attempt_at == T0 == stored.created_at == stored.retry_since
    assert stored.document_unique_ids == new.document_unique_ids
    assert stored.patient_hash == new.patient_hash and stored.actor == "client-a"
    assert stored.request_id == new.request_id
    assert stored.context == {"entries": [{"fullUrl": "urn:uuid:1"}]}
    assert stored.last_error is None and stored.response is None and stored.delivered_at is None
    assert events(outbox, stored.id) == [AuditEvent.ENQUEUED]


@pytest.mark.parametrize("size", [2**20 - 1, 2**20, 3 * 2**20 + 5])
def test_a_large_payload_reads_back_byte_for_byte(outbox: SqlOutbox, size: int) -> None:
    """From 1 MiB, SQLite writes the payload through incremental blob I/O into a zeroblob (no two copies of it in
    SQLite's memory while the caller holds it): the same bytes come back, claimed or read."""
    body = bytes(range(256)) * (size // 256) + b"\x01" * (size % 256)
    result = outbox.enqueue(make_submission(body=body))
    stored = outbox.get(result.record.id)
    assert stored is not None and stored.payload.body == body
    (claimed,) = outbox.claim(T0, timedelta(minutes=1), 10, "relay-1")
    assert claimed.id == result.record.id and claimed.payload.body == body


def test_a_large_payload_blob_written_before_a_failure_is_rolled_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite")
    insert = outbox._exec

    def failing(cur: Any, sql: str, params: Any = ()) -> None:
        if sql.startswith("INSERT INTO outbox_document"):  # after the payload's blob was written
            raise sqlite3.OperationalError("disk I/O error")
        insert(cur, sql, params)

    monkeypatch.setattr(outbox, "_exec", failing)
    with pytest.raises(OutboxUnavailableError):
        outbox.enqueue(make_submission(body=b"b" * 2**21))
    with sqlite3.connect(tmp_path / "outbox.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM outbox_payload").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM outbox_submission").fetchone() == (0,)
    outbox.close()


def test_same_key_and_same_request_returns_the_existing_record(outbox: SqlOutbox) -> None:
    new = make_submission()
    first = outbox.enqueue(new)
    again = outbox.enqueue(new)
    assert not again.created
    assert again.record.id == first.record.id
    assert outbox.count_by_state()[State.PENDING] == 1
    assert events(outbox, first.record.id) == [AuditEvent.ENQUEUED, AuditEvent.REPLAYED]


def test_same_key_with_a_different_request_is_a_conflict(outbox: SqlOutbox) -> None:
    key = client_idempotency_key("client-a", "retry-123")
    first = outbox.enqueue(make_submission(key=key, request=b"one"))
    with pytest.raises(IdempotencyConflictError) as caught:
        outbox.enqueue(make_submission(key=key, request=b"two"))
    assert caught.value.problem is Problem.IDEMPOTENCY_KEY_REUSED
    assert caught.value.existing.id == first.record.id
    assert caught.value.http_status == 422
    assert outbox.count_by_state()[State.PENDING] == 1
    assert events(outbox, first.record.id)[-1] == AuditEvent.CONFLICT  # the refusal is audited, not rolled back


def test_same_document_under_another_key_is_a_replay_or_a_conflict(outbox: SqlOutbox) -> None:
    uids = ("1.2.250.1.999.1.42",)
    first = outbox.enqueue(make_submission(unique_ids=uids, key="client:x", request=b"same"))
    # a client retry that forgot its Idempotency-Key: same request, same document -> the same record
    replay = outbox.enqueue(make_submission(unique_ids=uids, key="client:y", request=b"same"))
    assert not replay.created and replay.record.id == first.record.id
    # another request carrying the same document uniqueId while the first is live -> 409
    with pytest.raises(IdempotencyConflictError) as caught:
        outbox.enqueue(make_submission(unique_ids=uids, key="client:z", request=b"different"))
    assert caught.value.problem is Problem.DOCUMENT_ALREADY_SUBMITTED
    assert caught.value.http_status == 409
    assert "1.2.250.1.999.1.42" in str(caught.value)
    assert [s.id for s in outbox.find_by_document_unique_id("1.2.250.1.999.1.42")] == [first.record.id]


def test_a_dead_record_releases_its_key_to_a_corrected_request(outbox: SqlOutbox, clock: FakeClock) -> None:
    uids = ("1.2.250.1.999.1.77",)
    rejected = outbox.enqueue(make_submission(unique_ids=uids, request=b"bad metadata")).record
    outbox.claim(clock(), LEASE, 1, "r1")
    outbox.fail(rejected.id, Failure("xds-metadata-rejected", "XDSRegistryMetadataError"), None, owner="r1")
    # the exact same rejected request again: the dead record is returned, nothing new is sent
    same = outbox.enqueue(make_submission(unique_ids=uids, request=b"bad metadata"))
    assert not same.created and same.record.id == rejected.id and same.record.state is State.DEAD
    # a corrected request (same documents, hence same derived key) is accepted as a new record
    fixed = outbox.enqueue(make_submission(unique_ids=uids, request=b"good metadata"))
    assert fixed.created and fixed.superseded == rejected.id
    assert fixed.record.idempotency_key == document_idempotency_key(uids)
    old = outbox.get(rejected.id)
    assert old is not None and old.state is State.DEAD and old.idempotency_key != fixed.record.idempotency_key
    assert AuditEvent.SUPERSEDED in events(outbox, rejected.id)
    assert {s.id for s in outbox.find_by_document_unique_id(uids[0])} == {rejected.id, fixed.record.id}


# --- claim / leases --------------------------------------------------------------------------------------------------


def test_claim_is_exclusive_across_store_instances(backend: Backend, clock: FakeClock) -> None:
    one, two = backend.open(clock=clock), backend.open(clock=clock)
    ids = {one.enqueue(make_submission()).record.id for _ in range(6)}
    a = one.claim(clock(), LEASE, 4, "relay-a")
    b = two.claim(clock(), LEASE, 4, "relay-b")
    assert len(a) == 4 and len(b) == 2
    assert {r.id for r in a} | {r.id for r in b} == ids
    assert not {r.id for r in a} & {r.id for r in b}
    assert all(r.state is State.SENDING and r.attempts == 1 for r in a + b)
    assert {r.lease_owner for r in a} == {"relay-a"} and all(r.lease_until == T0 + LEASE for r in a)
    assert one.claim(clock(), LEASE, 10, "relay-c") == []  # every lease is live


def test_claim_takes_due_records_only_oldest_first(outbox: SqlOutbox, clock: FakeClock) -> None:
    later = outbox.enqueue(make_submission(not_before=T0 + timedelta(minutes=1))).record
    clock.advance(timedelta(seconds=1))
    now_due = outbox.enqueue(make_submission()).record
    early = outbox.enqueue(make_submission(not_before=T0 - timedelta(minutes=1))).record
    assert [r.id for r in outbox.claim(clock(), LEASE, 10, "r")] == [early.id, now_due.id]
    assert outbox.claim(clock(), LEASE, 10, "r") == []
    clock.advance(timedelta(minutes=1))
    assert [r.id for r in outbox.claim(clock(), LEASE, 10, "r")] == [later.id]


def test_enqueue_with_a_lease_is_born_claimed_by_its_caller(outbox: SqlOutbox, clock: FakeClock) -> None:
    """The inline attempt's claim is taken in the enqueue transaction: no other relay can take the record before it."""
    record = outbox.enqueue(make_submission(body=b"inline", lease=InlineLease("inline", LEASE))).record
    assert (record.state, record.attempts, record.lease_owner) == (State.SENDING, 1, "inline")
    assert record.lease_until == clock() + LEASE
    assert outbox.claim(clock(), LEASE, 10, "background") == []
    assert outbox.claim_id(record.id, clock(), LEASE, "background") is None
    assert events(outbox, record.id) == [AuditEvent.ENQUEUED, AuditEvent.ATTEMPT]
    done = outbox.complete(record.id, {}, owner="inline")
    assert done.state is State.DELIVERED and not done.ambiguous
    assert not hasattr(done, "payload")  # outcomes do not read the payload back


def test_an_inline_lease_that_expires_is_taken_over_as_ambiguous(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission(lease=InlineLease("inline", LEASE))).record
    clock.advance(LEASE)
    (taken,) = outbox.claim(clock(), LEASE, 10, "background")
    assert (taken.id, taken.attempts, taken.ambiguous, taken.payload.body[:8]) == (record.id, 2, True, b"payload-")


def test_claim_returns_the_payload(outbox: SqlOutbox, clock: FakeClock) -> None:
    outbox.enqueue(make_submission(body=b"the built ITI-41 request"))
    (claimed,) = outbox.claim(clock(), LEASE, 1, "r")
    assert claimed.payload.body == b"the built ITI-41 request"


def test_attempts_grow_and_failed_records_wait_for_their_retry_time(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission()).record
    outbox.claim(clock(), LEASE, 1, "r")
    failed = outbox.fail(record.id, BUSY, clock() + timedelta(seconds=30), owner="r")
    assert failed.state is State.FAILED and failed.attempts == 1 and failed.lease_owner is None
    assert failed.last_error == BUSY
    assert failed.next_attempt_at == T0 + timedelta(seconds=30)
    assert outbox.claim(clock() + timedelta(seconds=29), LEASE, 1, "r") == []
    (again,) = outbox.claim(clock() + timedelta(seconds=30), LEASE, 1, "r")
    assert again.attempts == 2
    assert events(outbox, record.id) == [
        AuditEvent.ENQUEUED,
        AuditEvent.ATTEMPT,
        AuditEvent.RETRY_SCHEDULED,
        AuditEvent.ATTEMPT,
    ]


def test_an_expired_lease_is_reclaimed_and_marked_ambiguous(backend: Backend, clock: FakeClock) -> None:
    first, second = backend.open(clock=clock), backend.open(clock=clock)
    record = first.enqueue(make_submission()).record
    first.claim(clock(), LEASE, 1, "crashed-relay")
    assert second.claim(clock() + LEASE - timedelta(microseconds=1), LEASE, 1, "relay-b") == []
    clock.advance(LEASE)
    (taken,) = second.claim(clock(), LEASE, 1, "relay-b")
    assert taken.id == record.id
    assert taken.attempts == 2
    assert taken.ambiguous is True  # the vanished attempt may have reached the DMP
    assert taken.lease_owner == "relay-b"
    assert AuditEvent.LEASE_EXPIRED in events(second, record.id)
    # the old holder's failure is dropped; only the current holder decides
    with pytest.raises(StaleLeaseError):
        first.fail(record.id, BUSY, clock(), owner="crashed-relay")
    assert first.get(record.id).state is State.SENDING  # type: ignore[union-attr]


def test_a_late_success_from_a_relay_that_lost_its_lease_is_still_recorded(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission()).record
    outbox.claim(clock(), LEASE, 1, "slow")
    clock.advance(LEASE)
    outbox.claim(clock(), LEASE, 1, "fast")
    done = outbox.complete(record.id, {"status": "Success"}, owner="slow")
    assert done.state is State.DELIVERED
    assert outbox.audit_for_submission(record.id)[-1].detail["late"] is True
    with pytest.raises(StaleLeaseError):  # the new holder cannot turn a delivery into a failure
        outbox.fail(record.id, BUSY, clock(), owner="fast")
    assert outbox.complete(record.id, {"status": "Success"}, owner="fast").state is State.DELIVERED


def test_recover_expired_makes_abandoned_records_claimable(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission()).record
    live = outbox.enqueue(make_submission()).record
    outbox.claim(clock(), LEASE, 1, "gone")
    clock.advance(timedelta(minutes=1))
    outbox.claim(clock(), LEASE, 1, "alive")
    assert outbox.recover_expired(clock()) == []
    clock.advance(LEASE - timedelta(minutes=1))
    assert outbox.recover_expired(clock()) == [record.id]
    recovered = outbox.get(record.id)
    assert recovered is not None and recovered.state is State.FAILED and recovered.ambiguous
    assert outbox.get(live.id).state is State.SENDING  # type: ignore[union-attr]


def test_claim_id_takes_one_given_record_if_claimable(outbox: SqlOutbox, clock: FakeClock) -> None:
    a = outbox.enqueue(make_submission()).record
    b = outbox.enqueue(make_submission()).record
    taken = outbox.claim_id(b.id, clock(), LEASE, "api")
    assert taken is not None and taken.id == b.id and taken.lease_owner == "api"
    assert outbox.claim_id(b.id, clock(), LEASE, "other") is None
    assert outbox.get(a.id).state is State.PENDING  # type: ignore[union-attr]
    assert outbox.claim_id("no-such-id", clock(), LEASE, "api") is None


# --- outcomes ------------------------------------------------------------------------------------------------------


def test_dead_is_terminal(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission()).record
    outbox.claim(clock(), LEASE, 1, "r")
    dead = outbox.fail(record.id, Failure("xds-unknown-patient", "XDSUnknownPatientId"), None, owner="r")
    assert dead.state is State.DEAD and dead.is_terminal
    assert outbox.claim(clock() + timedelta(days=365), LEASE, 10, "r") == []
    assert outbox.claim_id(record.id, clock() + timedelta(days=365), LEASE, "r") is None
    with pytest.raises(StaleLeaseError):
        outbox.fail(record.id, BUSY, clock(), owner="r")
    assert outbox.get(record.id).state is State.DEAD  # type: ignore[union-attr]
    assert events(outbox, record.id)[-1] == AuditEvent.DEAD


def test_an_operator_can_requeue_a_dead_record_with_a_fresh_budget(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission()).record
    outbox.claim(clock(), LEASE, 1, "r")
    outbox.fail(record.id, BUSY, None, ambiguous=True, owner="r")
    clock.advance(timedelta(days=2))
    requeued = outbox.requeue(record.id, clock(), actor="operator:alice")
    assert requeued.state is State.PENDING and requeued.attempts == 0
    assert requeued.retry_since == clock() and requeued.ambiguous  # an earlier attempt may still have landed
    assert outbox.audit_for_submission(record.id)[-1].actor == "operator:alice"
    with pytest.raises(SubmissionStateError):
        outbox.requeue(record.id, clock(), actor="operator:alice")


def test_complete_records_the_response_and_is_idempotent(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission()).record
    outbox.claim(clock(), LEASE, 1, "r")
    clock.advance(timedelta(seconds=3))
    done = outbox.complete(record.id, {"status": "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"})
    assert done.state is State.DELIVERED and done.delivered_at == T0 + timedelta(seconds=3)
    assert done.response == {"status": "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"}
    assert done.lease_owner is None and done.lease_until is None
    assert outbox.complete(record.id, {"status": "other"}).response == done.response
    assert events(outbox, record.id).count(AuditEvent.DELIVERED) == 1
    with pytest.raises(UnknownSubmissionError):
        outbox.complete("no-such-id", {})


def test_ambiguity_is_sticky(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission()).record
    outbox.claim(clock(), LEASE, 1, "r")
    assert outbox.fail(record.id, BUSY, clock(), ambiguous=True, owner="r").ambiguous
    outbox.claim(clock(), LEASE, 1, "r")
    assert outbox.fail(record.id, BUSY, clock(), ambiguous=False, owner="r").ambiguous


# --- reads, durability, audit ---------------------------------------------------------------------------------------


def test_listing_and_counting_by_state(outbox: SqlOutbox, clock: FakeClock) -> None:
    a = outbox.enqueue(make_submission()).record
    b = outbox.enqueue(make_submission()).record
    outbox.claim_id(a.id, clock(), LEASE, "r")
    outbox.complete(a.id, {})
    assert [s.id for s in outbox.list_by_state(State.PENDING)] == [b.id]
    assert [s.id for s in outbox.list_by_state(State.DELIVERED)] == [a.id]
    assert not hasattr(outbox.list_by_state(State.PENDING)[0], "payload")  # listings never load payloads
    counts = outbox.count_by_state()
    assert counts[State.PENDING] == 1 and counts[State.DELIVERED] == 1 and counts[State.DEAD] == 0
    found = outbox.find_by_idempotency_key(b.idempotency_key)
    assert found is not None and found.id == b.id
    assert outbox.find_by_idempotency_key("nope") is None and outbox.get("nope") is None


def test_records_survive_a_restart(backend: Backend, clock: FakeClock) -> None:
    store = backend.open(clock=clock)
    record = store.enqueue(make_submission(body=b"kept")).record
    store.claim(clock(), LEASE, 1, "r")
    store.close()
    reopened = backend.open(clock=clock)
    again = reopened.get(record.id)
    assert again is not None and again.state is State.SENDING and again.payload.body == b"kept"


def test_audit_is_queryable_by_time_range(outbox: SqlOutbox, clock: FakeClock) -> None:
    a = outbox.enqueue(make_submission()).record
    clock.advance(timedelta(hours=1))
    outbox.append_audit(
        AuditEvent.REJECTED,
        actor="client-b",
        outcome="ins-key-mismatch",
        patient_hash="hmac-sha256:00",
        document_unique_ids=["1.2.3"],
        request_id="req-x",
        detail={"status": 422},
    )
    clock.advance(timedelta(hours=1))
    b = outbox.enqueue(make_submission()).record
    window = outbox.audit_between(T0 + timedelta(minutes=30), T0 + timedelta(hours=2))
    assert [(e.event, e.actor, e.outcome) for e in window] == [(AuditEvent.REJECTED, "client-b", "ins-key-mismatch")]
    assert window[0].document_unique_ids == ("1.2.3",) and window[0].detail == {"status": 422}
    assert window[0].submission_id is None and window[0].at == T0 + timedelta(hours=1)
    everything = outbox.audit_between(T0, T0 + timedelta(days=1))
    assert [e.submission_id for e in everything] == [a.id, None, b.id]
    enqueued = everything[0]
    assert enqueued.patient_hash == a.patient_hash and enqueued.document_unique_ids == a.document_unique_ids
    assert enqueued.request_id == a.request_id and enqueued.outcome == "accepted"


def test_the_audit_trail_is_append_only(backend: Backend, outbox: SqlOutbox) -> None:
    outbox.enqueue(make_submission())
    if backend.name == "sqlite":
        conn = sqlite3.connect(backend.location)
        try:
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute("UPDATE outbox_audit SET outcome = 'forged'")
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute("DELETE FROM outbox_audit")
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(backend.location, autocommit=True, options=f"-c search_path={backend.schema}") as conn:
            for statement in ("UPDATE outbox_audit SET outcome = 'forged'", "DELETE FROM outbox_audit"):
                with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                    conn.execute(statement)
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute("TRUNCATE outbox_audit")
    assert len(outbox.audit_between(T0, T0 + timedelta(days=1))) == 1


def test_a_naive_clock_is_refused(backend: Backend) -> None:
    store = backend.open(clock=lambda: T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.enqueue(make_submission())


# --- unavailability --------------------------------------------------------------------------------------------------


def test_an_unusable_sqlite_file_is_reported_as_unavailable(tmp_path: pytest.TempPathFactory) -> None:
    from facade.outbox import SqliteOutbox

    with pytest.raises(OutboxUnavailableError) as caught:
        SqliteOutbox(tmp_path / "missing-dir" / "outbox.sqlite")  # type: ignore[operator]
    assert caught.value.http_status == 503


def test_sqlite_lock_held_beyond_busy_timeout_is_unavailable(tmp_path: pytest.TempPathFactory) -> None:
    from facade.outbox import SqliteOutbox

    path = tmp_path / "outbox.sqlite"  # type: ignore[operator]
    store = SqliteOutbox(path, busy_timeout=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OutboxUnavailableError, match="locked"):
            store.enqueue(make_submission())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.enqueue(make_submission()).created  # usable again once the lock is gone
    store.close()


def test_an_unreachable_postgres_is_reported_as_unavailable() -> None:
    pytest.importorskip("psycopg")
    from facade.outbox.postgres import PostgresOutbox

    with pytest.raises(OutboxUnavailableError) as caught:
        PostgresOutbox("postgresql://postgres@127.0.0.1:1/test", connect_timeout=2)
    assert caught.value.http_status == 503
    assert "127.0.0.1" not in str(caught.value)  # connection details stay in the server log


def test_connections_of_finished_threads_are_closed(outbox: SqlOutbox) -> None:
    import gc
    import threading

    def work() -> None:
        outbox.enqueue(make_submission())

    for _ in range(20):  # server pools start and retire threads all day long
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    gc.collect()
    assert len(outbox._connections._holders) <= 1  # type: ignore[attr-defined]  # only the main thread's
    assert outbox.count_by_state()[State.PENDING] == 20


def test_an_idle_poll_takes_no_write_lock(tmp_path, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    """With nothing due, claim only reads: a background relay polling an idle SQLite store never waits for (nor takes)
    the one writer lock that enqueues need. Here another connection holds that lock; the poll still answers."""
    from facade.outbox import SqliteOutbox

    store = SqliteOutbox(tmp_path / "o.sqlite", clock=clock, busy_timeout=0.05)
    held = store.enqueue(make_submission()).record
    store.claim(clock(), LEASE, 10, "r")  # the only record is now leased: nothing is due
    writer = sqlite3.connect(tmp_path / "o.sqlite", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        assert store.claim(clock(), LEASE, 10, "background") == []
        clock.advance(LEASE)  # the lease expired: now something is due, and claiming it needs the lock
        with pytest.raises(OutboxUnavailableError):
            store.claim(clock(), LEASE, 10, "background")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    (taken,) = store.claim(clock(), LEASE, 10, "background")
    assert taken.id == held.id
    store.close()
