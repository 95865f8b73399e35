"""``facade serve --workers 2``: whichever worker answers a scrape reports the totals of all of them (prometheus-
client multiprocess mode under ``<state>/metrics``), those of a worker that died and was replaced included."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.resilience.harness import BundleFactory, Stack, child_pids

POSTS = 6


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path / "stack")
    try:
        stack.start_simulator()
        stack.start_facade(workers=2)
        yield stack
    finally:
        stack.stop()


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _totals(stack: Stack) -> tuple[float, float, float]:
    """(documents accepted, documents delivered, ITI-41 attempts) as one scrape on a new connection reports them."""
    text = httpx.get(f"http://127.0.0.1:{stack.facade_port}/metrics", timeout=30.0, trust_env=False).text
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def total(name: str, **labels: str) -> float:
        return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())

    return (
        total("facade_submissions_total", outcome="accepted"),
        total("facade_submissions_total", outcome="delivered"),
        total("facade_dmp_request_seconds_count"),
    )


def test_every_worker_reports_the_totals_of_all(stack: Stack) -> None:
    assert stack.facade is not None
    _wait_for(lambda: len(child_pids(stack.facade.pid)) == 2)
    factory = BundleFactory()
    for n in range(POSTS):  # a new connection each: the two workers share the accepted connections
        s = factory.submission(n)
        r = httpx.post(f"{stack.fhir_base}", content=s.body, headers=s.headers(), timeout=60.0, trust_env=False)
        assert r.status_code == 200, r.text
    for _ in range(10):
        assert _totals(stack) == (POSTS, POSTS, POSTS)
    files = sorted((stack.facade_state / "metrics").glob("*.db"))
    assert files, "no per-process metric files"

    victim = min(child_pids(stack.facade.pid))
    os.kill(victim, signal.SIGKILL)
    _wait_for(lambda: victim not in child_pids(stack.facade.pid) and len(child_pids(stack.facade.pid)) == 2)
    _wait_for(lambda: stack.health()["status"] == "ok")
    for _ in range(10):  # the dead worker's counts are still in the totals
        assert _totals(stack) == (POSTS, POSTS, POSTS)
