"""Real concurrency: relays in threads (SQLite and PostgreSQL), relays in separate processes on one store,
and a relay process killed with SIGKILL while its request is in flight. No timing assertions: only counts."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from facade.ids import system_now
from facade.outbox import DeliveryResult, Failure, OutboxRecord, Relay, RetryPolicy, State

from .conftest import Backend, make_submission

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("relay_worker.py")
FAST_RETRY = RetryPolicy(
    base_delay=timedelta(milliseconds=5), max_delay=timedelta(milliseconds=20), horizon=timedelta(hours=1)
)


class ExclusiveDmp:
    """Counts deliveries per record and records any overlap of two deliveries of the same record."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight: set[str] = set()
        self.overlaps: list[str] = []
        self.delivered: collections.Counter[str] = collections.Counter()
        self.busy_once: set[str] = set()

    def __call__(self, record: OutboxRecord) -> DeliveryResult:
        with self.lock:
            if record.id in self.in_flight:
                self.overlaps.append(record.id)
            self.in_flight.add(record.id)
            busy = hash(record.id) % 4 == 0 and record.id not in self.busy_once
            if busy:
                self.busy_once.add(record.id)
        try:
            time.sleep(0.001)  # hold the record long enough for a wrong second taker to show up
            if busy:  # a quarter of the records go through failed -> reclaimed concurrently
                return DeliveryResult.retryable(Failure("xds-transient", "XDSRegistryBusy"))
            with self.lock:
                self.delivered[record.id] += 1
            return DeliveryResult.delivered({})
        finally:
            with self.lock:
                self.in_flight.discard(record.id)


def wait_until(condition: object, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_relays_in_threads_never_deliver_a_record_twice(backend: Backend) -> None:
    stores = [backend.open(), backend.open()]  # two "instances", each with several relay threads
    ids = {stores[0].enqueue(make_submission()).record.id for _ in range(120)}
    dmp = ExclusiveDmp()
    stop = threading.Event()
    threads = [
        Relay(stores[i % 2], dmp, FAST_RETRY, owner=f"relay-{i}", batch=3).start(stop, poll_interval=0.005)
        for i in range(6)
    ]
    try:
        done = wait_until(lambda: stores[1].count_by_state()[State.DELIVERED] == len(ids))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert done, stores[0].count_by_state()
    assert dmp.overlaps == []
    assert set(dmp.delivered) == ids
    assert set(dmp.delivered.values()) == {1}
    assert dmp.busy_once  # the retry path was exercised too
    assert {s.attempts for s in stores[0].list_by_state(State.DELIVERED, limit=1000)} == {1, 2}


def test_concurrent_enqueues_of_the_same_document_create_one_record(backend: Backend) -> None:
    stores = [backend.open(), backend.open()]
    uids = ("1.2.250.1.999.1.900",)
    barrier = threading.Barrier(8)
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def post(i: int) -> None:
        barrier.wait()
        result = stores[i % 2].enqueue(make_submission(unique_ids=uids, key=f"client:{i}", request=b"same request"))
        with lock:
            results.append((result.record.id, result.created))

    threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 8
    assert len({record_id for record_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def _spawn(backend: Backend, owner: str, registry: Path, mode: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, str(WORKER), backend.name, backend.location, backend.schema or "-", owner, str(registry)]
    return subprocess.Popen([*args, mode], env=env, cwd=ROOT)


def _registry_lines(registry: Path) -> list[tuple[str, str]]:
    if not registry.exists():
        return []
    return [tuple(line.split(" ", 1)) for line in registry.read_text().splitlines()]  # type: ignore[misc]


def test_relays_in_separate_processes_deliver_each_record_exactly_once(backend: Backend, tmp_path: Path) -> None:
    store = backend.open()
    uids = {store.enqueue(make_submission()).record.document_unique_ids[0] for _ in range(150)}
    registry = tmp_path / "registry.log"
    workers = [_spawn(backend, f"proc-{i}", registry, "drain") for i in range(3)]
    try:
        codes = [worker.wait(timeout=180) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert codes == [0, 0, 0]
    lines = _registry_lines(registry)
    delivered = collections.Counter(uid for uid, _ in lines)
    assert set(delivered) == uids
    assert set(delivered.values()) == {1}, [uid for uid, n in delivered.items() if n > 1]
    assert len({owner for _, owner in lines}) >= 2  # the work really was shared between processes
    assert store.count_by_state()[State.DELIVERED] == 150


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_relay_killed_mid_send_is_redelivered_exactly_once_after_restart(backend: Backend, tmp_path: Path) -> None:
    store = backend.open()
    uids = [store.enqueue(make_submission()).record.document_unique_ids[0] for _ in range(5)]
    registry = tmp_path / "registry.log"
    worker = _spawn(backend, "doomed", registry, "hang")
    try:
        assert wait_until(lambda: len(_registry_lines(registry)) == 1, timeout=60), "the worker never sent"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    ((sent_uid, _),) = _registry_lines(registry)
    in_flight = store.find_by_document_unique_id(sent_uid)[0]
    assert in_flight.state is State.SENDING and in_flight.lease_owner == "doomed"

    # restart: a new store instance and relay; the dead worker's lease (3 s) must run out first
    restarted = backend.open(clock=lambda: system_now() + timedelta(seconds=10))
    fd = os.open(registry, os.O_WRONLY | os.O_APPEND)

    def deliver(record: OutboxRecord) -> DeliveryResult:
        already = {uid for uid, _ in _registry_lines(registry)}
        if any(uid in already for uid in record.document_unique_ids):
            return DeliveryResult.duplicate()  # what the DMP answers for a uniqueId it already holds
        for uid in record.document_unique_ids:
            os.write(fd, f"{uid} restarted\n".encode())
        return DeliveryResult.delivered({})

    try:
        relay = Relay(restarted, deliver, RetryPolicy(), restarted._clock, "restarted", batch=50)
        relay.run_once()
    finally:
        os.close(fd)
    counts = collections.Counter(uid for uid, _ in _registry_lines(registry))
    assert counts == dict.fromkeys(uids, 1)  # every document exactly once at the "DMP"
    assert restarted.count_by_state()[State.DELIVERED] == 5
    recovered = restarted.get(in_flight.id)
    assert recovered is not None and recovered.attempts == 2 and recovered.ambiguous
    assert recovered.response == {"duplicate_after_ambiguous_attempt": True}
