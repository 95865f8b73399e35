"""After a crash (SIGKILL), submissions left 'sending' by the dead process are resumed at start-up, without waiting
for their lease to expire; a lease held by a live process of this host is left alone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from facade.cli import demo_settings
from facade.outbox.record import NewSubmission, Payload, State
from facade.runtime import Runtime, owner_is_gone
from tests.dmp_edge import DMP_URL


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    child.wait()
    return child.pid


def test_owner_is_gone_only_for_dead_processes_of_this_host() -> None:
    host = socket.gethostname()
    assert owner_is_gone(f"{host}:{_dead_pid()}:abcd-w0")
    assert not owner_is_gone(f"{host}:{os.getppid()}:abcd-w0")  # alive
    assert not owner_is_gone(f"another-host:{_dead_pid()}:abcd-w0")  # never judged
    assert not owner_is_gone("garbage")


def test_start_resumes_what_a_killed_process_left_in_flight(tmp_path: Path, _pki) -> None:  # type: ignore[no-untyped-def]
    settings = demo_settings(tmp_path / "state", DMP_URL, _pki)
    settings.outbox.relay = False  # type: ignore[attr-defined]  # observe the store, do not deliver
    runtime = Runtime(settings)  # type: ignore[arg-type]
    outbox = runtime.outbox
    now = datetime.now(UTC)
    ids = {}
    for name, owner in (
        ("dead", f"{socket.gethostname()}:{_dead_pid()}:0000-w0"),
        ("alive", f"{socket.gethostname()}:{os.getppid()}:0000-w1"),
    ):
        record = outbox.enqueue(
            NewSubmission(
                idempotency_key=name,
                fingerprint=name,
                payload=Payload("application/octet-stream", b"x"),
                document_unique_ids=(f"1.2.250.1.999.9.{len(ids) + 1}",),
                patient_hash="hmac-sha256:test",
                actor="test",
            )
        ).record
        claimed = outbox.claim_id(record.id, now + timedelta(seconds=1), timedelta(minutes=5), owner)
        assert claimed is not None and claimed.state is State.SENDING
        ids[name] = record.id

    runtime.start()
    try:
        dead, alive = outbox.get(ids["dead"]), outbox.get(ids["alive"])
        assert dead is not None and dead.state is State.FAILED and dead.ambiguous  # retried at once, may have landed
        assert alive is not None and alive.state is State.SENDING  # another live process still owns it
    finally:
        runtime.stop()
