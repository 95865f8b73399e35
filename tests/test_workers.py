"""`facade serve --workers N`: N processes share the port; a worker that dies is replaced; SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from facade.workers import relay_threads_per_process
from tests.resilience.harness import child_pids, free_port


def _wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACADE_")}
    env.update({"FACADE_ENVIRONMENT": "development", "FACADE_STATE_DIR": str(tmp_path), "FACADE_AUTH__MODE": "none"})
    cmd = [sys.executable, "-m", "facade", "serve", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/fhir/metadata", timeout=5.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def test_workers_share_the_port_are_replaced_and_stop_together(server: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, base = server
    _wait_for(lambda: _answers(base) and len(child_pids(proc.pid)) == 2)
    first = child_pids(proc.pid)

    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    _wait_for(lambda: victim not in child_pids(proc.pid) and len(child_pids(proc.pid)) == 2)
    assert len(child_pids(proc.pid) - first) == 1  # a new worker replaced the dead one
    _wait_for(lambda: _answers(base))
    for _ in range(20):  # new connections each time: whichever worker accepts answers
        assert _answers(base)

    workers = child_pids(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not _answers(base)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # stopped and reaped by the parent


def test_relay_threads_are_shared_out_between_processes() -> None:
    assert relay_threads_per_process(4, 1) == 4
    assert relay_threads_per_process(4, 2) == 2
    assert relay_threads_per_process(4, 3) == 2
    assert relay_threads_per_process(1, 2) == 1


def test_workers_must_be_positive() -> None:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "facade", "serve", "--workers", "0"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "--workers" in result.stderr
