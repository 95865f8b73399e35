"""Relay behaviour on both stores: outcomes, retries, the duplicate rule, crash recovery."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from facade.errors import Problem
from facade.outbox import AuditEvent, DeliveryResult, Outcome, Relay, RetryPolicy, State
from facade.outbox.store import SqlOutbox

from .conftest import T0, Backend, FakeClock, FakeDmp, SimulatedCrash, make_submission

POLICY = RetryPolicy(
    base_delay=timedelta(seconds=10), factor=2.0, max_delay=timedelta(minutes=5), horizon=timedelta(hours=1)
)
LEASE = timedelta(minutes=2)


def relay(outbox: SqlOutbox, dmp: FakeDmp, clock: FakeClock, owner: str = "relay-1", **kwargs: object) -> Relay:
    return Relay(outbox, dmp, POLICY, clock, owner, lease=LEASE, rng=lambda: 0.5, **kwargs)  # type: ignore[arg-type]


def test_a_submission_is_delivered_and_its_answer_kept(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission()).record
    dmp = FakeDmp()
    outcomes = relay(outbox, dmp, clock).run_once()
    assert [(o.submission_id, o.outcome) for o in outcomes] == [(record.id, Outcome.DELIVERED)]
    done = outbox.get(record.id)
    assert done is not None and done.state is State.DELIVERED and done.attempts == 1
    assert done.response == {"status": "Success", "documents": list(record.document_unique_ids)}
    assert dmp.registry == {uid: 1 for uid in record.document_unique_ids}


def test_busy_twice_then_ok_is_delivered_on_the_third_attempt(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission()).record
    dmp = FakeDmp("busy", "busy")
    r = relay(outbox, dmp, clock)
    assert [o.outcome for o in r.run_once()] == [Outcome.RETRY_SCHEDULED]
    failed = outbox.get(record.id)
    assert failed is not None and failed.state is State.FAILED
    assert failed.next_attempt_at == T0 + timedelta(seconds=5)  # U(0, 10 s) with u = 0.5
    assert failed.last_error is not None and failed.last_error.code == "xds-transient"
    assert r.run_once() == []  # not due yet
    clock.advance(timedelta(seconds=5))
    assert [o.outcome for o in r.run_once()] == [Outcome.RETRY_SCHEDULED]
    assert outbox.get(record.id).next_attempt_at == clock() + timedelta(seconds=10)  # type: ignore[union-attr]
    clock.advance(timedelta(seconds=10))
    assert [o.outcome for o in r.run_once()] == [Outcome.DELIVERED]
    assert outbox.get(record.id).attempts == 3  # type: ignore[union-attr]


def test_a_permanent_failure_is_not_retried(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission()).record
    dmp = FakeDmp("metadata")
    r = relay(outbox, dmp, clock)
    assert [o.outcome for o in r.run_once()] == [Outcome.DEAD]
    clock.advance(timedelta(days=2))
    assert r.run_once() == []
    dead = outbox.get(record.id)
    assert dead is not None and dead.state is State.DEAD and dead.attempts == 1
    assert dead.last_error is not None and dead.last_error.code == "xds-metadata-rejected"
    assert len(dmp.calls) == 1


def test_retries_stop_at_the_horizon_and_the_reason_is_kept(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission()).record
    dmp = FakeDmp(*["busy"] * 100)
    r = relay(outbox, dmp, clock)
    outcomes: list[Outcome] = []
    while not outcomes or outcomes[-1] is not Outcome.DEAD:
        outcomes += [o.outcome for o in r.run_once()]
        clock.advance(timedelta(minutes=5))
        assert clock() < T0 + timedelta(hours=2), "the horizon was not enforced"
    dead = outbox.get(record.id)
    assert dead is not None and dead.state is State.DEAD
    assert dead.last_error is not None and dead.last_error.code == "xds-transient"
    assert "retry horizon of 1h exhausted" in dead.last_error.details["dead_reason"]
    assert outcomes.count(Outcome.RETRY_SCHEDULED) == dead.attempts - 1 >= 5


def test_a_duplicate_without_an_earlier_ambiguous_attempt_is_a_permanent_failure(
    outbox: SqlOutbox, clock: FakeClock
) -> None:
    uid = "1.2.250.1.999.1.500"
    dmp = FakeDmp()
    dmp.registry[uid] = 1  # someone else already registered this uniqueId
    record = outbox.enqueue(make_submission(unique_ids=(uid,))).record
    assert [o.outcome for o in relay(outbox, dmp, clock).run_once()] == [Outcome.DEAD]
    dead = outbox.get(record.id)
    assert dead is not None and dead.last_error is not None
    assert dead.last_error.code == Problem.XDS_DUPLICATE_UNIQUE_ID.spec.code


def test_a_duplicate_after_a_timeout_counts_as_delivered(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission()).record
    dmp = FakeDmp("timeout-after-send")
    r = relay(outbox, dmp, clock)
    assert [o.outcome for o in r.run_once()] == [Outcome.RETRY_SCHEDULED]
    assert outbox.get(record.id).ambiguous  # type: ignore[union-attr]
    clock.advance(timedelta(minutes=1))
    assert [o.outcome for o in r.run_once()] == [Outcome.DELIVERED]
    done = outbox.get(record.id)
    assert done is not None and done.response == {"duplicate_after_ambiguous_attempt": True}
    assert all(n == 1 for n in dmp.registry.values())


def test_an_exception_in_deliver_is_an_ambiguous_retryable_failure(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission()).record
    dmp = FakeDmp("boom")
    r = relay(outbox, dmp, clock)
    assert [o.outcome for o in r.run_once()] == [Outcome.RETRY_SCHEDULED]
    failed = outbox.get(record.id)
    assert failed is not None and failed.ambiguous and failed.last_error is not None
    assert failed.last_error.code == Problem.INTERNAL.spec.code
    assert "RuntimeError: bug in deliver" in failed.last_error.message


def test_crash_between_deliver_and_complete_is_redelivered_and_the_duplicate_counts(
    backend: Backend, clock: FakeClock
) -> None:
    store = backend.open(clock=clock)
    record = store.enqueue(make_submission()).record
    dmp = FakeDmp("crash-after-send")
    with pytest.raises(SimulatedCrash):
        relay(store, dmp, clock, owner="instance-1").run_once()
    store.close()  # the process is gone; the record stays "sending" under instance-1's lease
    assert dmp.registry == {uid: 1 for uid in record.document_unique_ids}

    restarted = backend.open(clock=clock)
    r2 = relay(restarted, dmp, clock, owner="instance-2")
    assert r2.run_once() == []  # the lease still protects the record
    clock.advance(LEASE)
    assert [o.outcome for o in r2.run_once()] == [Outcome.DELIVERED]
    done = restarted.get(record.id)
    assert done is not None and done.state is State.DELIVERED and done.attempts == 2
    assert done.response == {"duplicate_after_ambiguous_attempt": True}
    assert dmp.registry == {uid: 1 for uid in record.document_unique_ids}  # exactly once at the DMP
    trail = [e.event for e in restarted.audit_for_submission(record.id)]
    assert trail == [
        AuditEvent.ENQUEUED,
        AuditEvent.ATTEMPT,
        AuditEvent.LEASE_EXPIRED,
        AuditEvent.ATTEMPT,
        AuditEvent.DELIVERED,
    ]


def test_no_attempt_starts_on_an_expired_lease(outbox: SqlOutbox, clock: FakeClock) -> None:
    outbox.enqueue(make_submission())
    dmp = FakeDmp()
    r = relay(outbox, dmp, clock)
    (claimed,) = outbox.claim(clock(), LEASE, 1, r.owner)
    clock.advance(LEASE)
    assert r.handle(claimed).outcome is Outcome.LOST_LEASE
    assert dmp.calls == []


def test_a_relay_that_lost_its_lease_does_not_overwrite_the_new_holder(outbox: SqlOutbox, clock: FakeClock) -> None:
    record = outbox.enqueue(make_submission()).record
    holder: dict[str, object] = {}

    def slow_busy(rec: object) -> DeliveryResult:
        # while "we" were sending, our lease expired and another relay took the record over
        clock.advance(LEASE)
        holder["other"] = outbox.claim(clock(), LEASE, 1, "relay-2")
        from facade.outbox import Failure

        return DeliveryResult.retryable(Failure("transport-timeout", "slow"))

    r = Relay(outbox, slow_busy, POLICY, clock, "relay-1", lease=LEASE, rng=lambda: 0.5)
    assert [o.outcome for o in r.run_once()] == [Outcome.LOST_LEASE]
    current = outbox.get(record.id)
    assert current is not None and current.state is State.SENDING and current.lease_owner == "relay-2"


def test_process_makes_one_inline_attempt_on_a_given_record(outbox: SqlOutbox, clock: FakeClock) -> None:
    a = outbox.enqueue(make_submission()).record
    b = outbox.enqueue(make_submission()).record
    dmp = FakeDmp()
    r = relay(outbox, dmp, clock)
    outcome = r.process(b.id)
    assert outcome is not None and outcome.outcome is Outcome.DELIVERED and dmp.calls == [b.id]
    assert r.process(b.id) is None  # delivered: nothing to do
    outbox.claim_id(a.id, clock(), LEASE, "someone-else")
    assert r.process(a.id) is None  # leased by another relay


def test_run_forever_delivers_everything_and_stops_on_request(outbox: SqlOutbox, clock: FakeClock) -> None:
    ids = {outbox.enqueue(make_submission()).record.id for _ in range(25)}
    dmp = FakeDmp("busy")  # one retry scheduled 5 s (fake) later
    r = relay(outbox, dmp, clock, batch=4)
    stop = threading.Event()
    thread = r.start(stop, poll_interval=0.01)
    try:
        for _ in range(2000):
            if outbox.count_by_state()[State.DELIVERED] == 24:
                break
            stop.wait(0.01)
        clock.advance(timedelta(seconds=5))
        for _ in range(2000):
            if outbox.count_by_state()[State.DELIVERED] == 25:
                break
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert {s.id for s in outbox.list_by_state(State.DELIVERED)} == ids
    assert sorted(dmp.registry.values()) == [1] * 25


def test_relay_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="lease"):
        Relay(None, FakeDmp(), POLICY, lease=timedelta(milliseconds=10))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch"):
        Relay(None, FakeDmp(), POLICY, batch=0)  # type: ignore[arg-type]
