"""Soak run: many submissions through the real facade process while the simulated DMP injects faults at random
(busy, SOAP fault, dropped connection, slow answers, some slower than the facade's read timeout). Checks zero lost,
zero duplicated, and measures the time from the client's POST to delivery.

Used by ``test_soak.py`` (modest N, in CI) and ``bench/soak.py`` (``--n 3000``, for the figures).
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from facade.outbox.record import State

from .harness import BundleFactory, FacadeTuning, PostResult, Stack, post

# Soak tuning: a short read timeout so "slow-timeout" faults really time out after the request was sent
SOAK_TUNING = FacadeTuning(
    connect_timeout=2.0,
    read_timeout=2.0,
    lease_seconds=15.0,
    retry_base_seconds=0.5,
    retry_factor=2.0,
    retry_max_delay_seconds=4.0,
    poll_seconds=0.2,
)

# fault kind -> (simulator step, weight among faults)
FAULTS: dict[str, tuple[str, float]] = {
    "busy": ("busy", 0.30),  # XDSRegistryBusy: retryable, nothing stored
    "soap-fault": ("soap-fault", 0.25),  # SOAP 1.2 Receiver fault: retryable, nothing stored
    "drop": ("drop", 0.20),  # connection closed after the request was read: ambiguous, nothing stored
    "slow": ("slow:0.5", 0.15),  # slow but within the read timeout: delivered on that attempt
    "slow-timeout": ("slow:3", 0.10),  # beyond the read timeout: ambiguous, STORED later -> duplicate on retry
}


def fault_plan(length: int, fault_rate: float, rng: random.Random) -> list[str]:
    """The simulator's script: one step per ITI-41 request it will receive (then ``ok``)."""
    kinds = list(FAULTS)
    weights = [FAULTS[k][1] for k in kinds]
    return [rng.choices(kinds, weights)[0] if rng.random() < fault_rate else "ok" for _ in range(length)]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class SoakReport:
    n: int
    workers: int
    fault_rate: float
    seed: int
    wall_seconds: float = 0.0
    answers: Counter[int] = field(default_factory=Counter)  # HTTP status of the (last) POST
    client_retries: int = 0  # POSTs repeated by the client because no answer came
    faults: Counter[str] = field(default_factory=Counter)  # faults the simulator actually injected, by kind
    iti41_requests: int = 0  # requests the simulator received
    attempts: int = 0  # delivery attempts made by the facade (sum over records)
    duplicate_after_ambiguous: int = 0  # records delivered on a duplicate answer after an ambiguous attempt
    stored_once: int = 0
    lost: list[str] = field(default_factory=list)  # accepted, not stored at the DMP
    duplicated: dict[str, int] = field(default_factory=dict)  # uniqueId -> times stored (> 1)
    unexpected: list[str] = field(default_factory=list)  # stored, not ours
    dead: int = 0
    records_per_document: dict[str, int] = field(default_factory=dict)  # uniqueId -> outbox records (!= 1)
    delivery_seconds: list[float] = field(default_factory=list)  # POST start -> delivered_at, per submission
    delivery_inline: list[float] = field(default_factory=list)  # ... of those answered 200 (inline attempt)
    delivery_queued: list[float] = field(default_factory=list)  # ... of those answered 202 (the relay delivered)
    post_seconds: list[float] = field(default_factory=list)  # POST round trip

    @property
    def total_faults(self) -> int:
        return sum(self.faults.values())

    def summary(self) -> dict[str, Any]:
        d = self.delivery_seconds
        return {
            "submissions": self.n,
            "client_workers": self.workers,
            "fault_rate": self.fault_rate,
            "seed": self.seed,
            "wall_seconds": round(self.wall_seconds, 1),
            "throughput_per_second": round(self.n / self.wall_seconds, 1) if self.wall_seconds else None,
            "answers": dict(sorted(self.answers.items())),
            "client_retries": self.client_retries,
            "faults_injected": dict(sorted(self.faults.items())),
            "faults_total": self.total_faults,
            "iti41_requests": self.iti41_requests,
            "delivery_attempts": self.attempts,
            "duplicate_after_ambiguous": self.duplicate_after_ambiguous,
            "stored_exactly_once": self.stored_once,
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "unexpected": len(self.unexpected),
            "dead": self.dead,
            "delivery_p50_s": round(percentile(d, 50), 3),
            "delivery_p95_s": round(percentile(d, 95), 3),
            "delivery_p99_s": round(percentile(d, 99), 3),
            "delivery_max_s": round(max(d), 3) if d else None,
            "delivery_mean_s": round(statistics.fmean(d), 3) if d else None,
            "delivery_200_p50_s": round(percentile(self.delivery_inline, 50), 3),
            "delivery_200_p95_s": round(percentile(self.delivery_inline, 95), 3),
            "delivery_202_p50_s": round(percentile(self.delivery_queued, 50), 3),
            "delivery_202_p95_s": round(percentile(self.delivery_queued, 95), 3),
            "post_p50_s": round(percentile(self.post_seconds, 50), 3),
            "post_p95_s": round(percentile(self.post_seconds, 95), 3),
        }

    def text(self) -> str:
        return "\n".join(f"{k:28} {v}" for k, v in self.summary().items())


def run_soak(
    root: Path,
    n: int,
    *,
    workers: int = 8,
    fault_rate: float = 0.2,
    seed: int = 20260302,
    async_share: float = 0.3,
    key_share: float = 0.5,
    settle_timeout: float | None = None,
) -> SoakReport:
    """Start the simulator and the facade under ``root``, post ``n`` distinct bundles from ``workers`` client
    threads (``async_share`` with Prefer: respond-async, ``key_share`` with an Idempotency-Key), wait until the
    outbox is settled, then compare what the DMP stored with what the facade accepted."""
    rng = random.Random(seed)  # noqa: S311 (fault injection, not security)
    report = SoakReport(n, workers, fault_rate, seed)
    factory = BundleFactory()
    subs = [
        factory.submission(
            i,
            idempotency_key=f"soak-{factory.root}-{i}" if rng.random() < key_share else None,
            respond_async=rng.random() < async_share,
        )
        for i in range(n)
    ]
    plan = fault_plan(int(n * 1.5), fault_rate, rng)  # retries consume steps too; then the default (ok)
    stack = Stack(root, SOAK_TUNING)
    try:
        stack.start_simulator()
        stack.start_facade()
        stack.set_script([FAULTS[k][0] if k in FAULTS else "ok" for k in plan], default="ok")

        results: dict[int, PostResult] = {}
        lock = threading.Lock()

        def send(client: httpx.Client, i: int) -> None:
            for _ in range(3):  # a client retries the same request when no answer came
                result = post(client, stack.fhir_base, subs[i])
                if result.status is not None:
                    break
                with lock:
                    report.client_retries += 1
                time.sleep(0.5)
            with lock:
                results[i] = result

        started = time.monotonic()
        with httpx.Client(timeout=60.0, trust_env=False, limits=httpx.Limits(max_connections=workers)) as client:
            with ThreadPoolExecutor(workers) as pool:
                for f in [pool.submit(send, client, i) for i in range(n)]:
                    f.result()
        expected = {s.unique_id for s in subs}
        stack.wait_until_settled(
            settle_timeout if settle_timeout is not None else 120 + n * 0.05,
            expect=lambda: set(stack.stored_counts()) >= {s.unique_id for i, s in enumerate(subs)
                                                          if results[i].accepted},  # fmt: skip
        )
        report.wall_seconds = time.monotonic() - started

        remaining = len(stack.script()["queue"])
        consumed = plan[: len(plan) - remaining]
        report.faults = Counter(k for k in consumed if k != "ok")
        report.iti41_requests = stack.iti41_request_count()
        for r in results.values():
            report.answers[r.status or 0] += 1
            if r.ended is not None:
                report.post_seconds.append(r.ended - r.started)

        stored = stack.stored_counts()
        accepted = {subs[i].unique_id: r for i, r in results.items() if r.accepted}
        report.lost = sorted(uid for uid in accepted if stored.get(uid, 0) == 0)
        report.duplicated = {uid: c for uid, c in stored.items() if c > 1}
        report.unexpected = sorted(set(stored) - expected)
        report.stored_once = sum(1 for uid in accepted if stored.get(uid) == 1)

        outbox = stack.outbox()
        try:
            report.dead = outbox.count_by_state().get(State.DEAD, 0)
            for uid, result in accepted.items():
                records = outbox.find_by_document_unique_id(uid)
                if len(records) != 1:
                    report.records_per_document[uid] = len(records)
                    continue
                record = records[0]
                report.attempts += record.attempts
                if (record.response or {}).get("duplicate_after_ambiguous_attempt"):
                    report.duplicate_after_ambiguous += 1
                if record.delivered_at is not None:
                    seconds = record.delivered_at.timestamp() - result.started
                    report.delivery_seconds.append(seconds)
                    (report.delivery_inline if result.status == 200 else report.delivery_queued).append(seconds)
        finally:
            outbox.close()
    finally:
        stack.stop()
    return report
