"""Outbox fixtures: a fake clock, submission builders, and the store under test on BOTH back ends.

``outbox_factory`` is parametrized over SQLite and PostgreSQL: every contract test runs on both. Calling the
factory again opens a second, independent store instance on the same storage (another "facade instance").
PostgreSQL needs FACADE_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test); each test gets its
own schema, dropped afterwards, so parallel runs never collide.
"""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from facade.outbox import NewSubmission, Payload, SqliteOutbox
from facade.outbox.keys import document_idempotency_key, request_fingerprint
from facade.outbox.store import SqlOutbox

PG_URL = os.environ.get("FACADE_TEST_POSTGRES_URL")
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


class FakeClock:
    """Thread-safe manual clock shared by the store and the relays of a test."""

    def __init__(self, start: datetime = T0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, value: datetime) -> None:
        with self._lock:
            self._now = value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


_counter = itertools.count(1)


def make_submission(
    *,
    unique_ids: tuple[str, ...] | None = None,
    key: str | None = None,
    body: bytes | None = None,
    request: bytes | None = None,
    actor: str = "client-a",
    **extra: Any,
) -> NewSubmission:
    n = next(_counter)
    uids = unique_ids or (f"1.2.250.1.999.1.{uuid.uuid4().int % 10**12}.{n}",)
    request_body = request if request is not None else f"request-{uids}".encode()
    return NewSubmission(
        idempotency_key=key or document_idempotency_key(uids),
        fingerprint=request_fingerprint(request_body),
        payload=Payload('multipart/related; type="application/xop+xml"', body or f"payload-{n}".encode()),
        document_unique_ids=uids,
        patient_hash="hmac-sha256:" + "ab" * 32,
        actor=actor,
        request_id=f"req-{n}",
        **extra,
    )


@dataclass
class Backend:
    name: str
    open: Callable[..., SqlOutbox]  # open(clock=...) -> a new store instance on the same storage
    location: str  # SQLite file path or PostgreSQL DSN (for subprocess workers)
    schema: str | None = None


def _sqlite_backend(tmp_path: Path) -> Iterator[Backend]:
    path = tmp_path / "outbox.sqlite"
    opened: list[SqlOutbox] = []

    def open_store(**kwargs: Any) -> SqlOutbox:
        store = SqliteOutbox(path, **kwargs)
        opened.append(store)
        return store

    yield Backend("sqlite", open_store, str(path))
    for store in opened:
        store.close()


def _postgres_backend() -> Iterator[Backend]:
    if not PG_URL:
        pytest.skip(
            "PostgreSQL contract tests need FACADE_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1/test)"
        )
    import psycopg

    from facade.outbox.postgres import PostgresOutbox

    schema = f"outbox_test_{uuid.uuid4().hex[:16]}"
    opened: list[SqlOutbox] = []

    def open_store(**kwargs: Any) -> SqlOutbox:
        store = PostgresOutbox(PG_URL, schema=schema, **kwargs)
        opened.append(store)
        return store

    try:
        yield Backend("postgres", open_store, PG_URL, schema)
    finally:
        for store in opened:
            store.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield from _sqlite_backend(tmp_path)
    else:
        yield from _postgres_backend()


@pytest.fixture
def outbox(backend: Backend, clock: FakeClock) -> SqlOutbox:
    return backend.open(clock=clock)


class SimulatedCrash(BaseException):
    """The process 'dies' inside deliver: not an Exception, so the relay cannot catch and record it."""


class FakeDmp:
    """A registry that rejects duplicate uniqueIds, driven by a script of behaviours (one per call, then 'ok').

    ok: accept (or answer duplicate if a uniqueId is already registered); busy: XDSRegistryBusy, nothing stored;
    timeout-after-send: stored, but the answer never comes back; crash-after-send: stored, then the relay dies;
    metadata: XDSRegistryMetadataError; boom: deliver raises a bug."""

    def __init__(self, *script: str) -> None:
        self.script = list(script)
        self.registry: dict[str, int] = {}  # uniqueId -> times stored (must never exceed 1)
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, record: Any) -> Any:
        from facade.outbox import DeliveryResult, Failure

        with self._lock:
            behaviour = self.script.pop(0) if self.script else "ok"
            self.calls.append(record.id)
            if behaviour == "busy":
                return DeliveryResult.retryable(Failure("xds-transient", "XDSRegistryBusy"))
            if behaviour == "metadata":
                return DeliveryResult.permanent(Failure("xds-metadata-rejected", "XDSRegistryMetadataError"))
            if behaviour == "boom":
                raise RuntimeError("bug in deliver")
            if any(uid in self.registry for uid in record.document_unique_ids):
                return DeliveryResult.duplicate()
            for uid in record.document_unique_ids:
                self.registry[uid] = self.registry.get(uid, 0) + 1
            if behaviour == "timeout-after-send":
                return DeliveryResult.retryable(Failure("transport-timeout", "read timeout"), ambiguous=True)
            if behaviour == "crash-after-send":
                raise SimulatedCrash()
            return DeliveryResult.delivered({"status": "Success", "documents": list(record.document_unique_ids)})
