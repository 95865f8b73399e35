"""The relay: claims due submissions from the outbox, hands each to ``deliver``, records the outcome.

``deliver`` (written by the lead: envelope + transport + RegistryResponse classification) returns a
``DeliveryResult``; the relay applies the retry policy and the one rule the store cannot know: a
``XDSDuplicateUniqueIdInRegistry`` answer counts as DELIVERED when an earlier attempt of THIS record was
ambiguous (it may have landed: timeout after sending, crash before ``complete``), and is a permanent failure
otherwise (architecture §7.5).

Exclusivity comes from the store's lease. The lease must outlast the longest ``deliver`` call (transport connect
+ read timeouts): a relay never starts an attempt on a record whose lease has expired, and a relay that reports
after losing its lease has its failure dropped (``StaleLeaseError``) while a late success is still recorded.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from facade.errors import Problem
from facade.ids import system_now
from facade.logs.context import RequestContext, bind_request
from facade.logs.trace import parse_traceparent
from facade.outbox.policy import RetryPolicy, Rng
from facade.outbox.record import (
    Failure,
    InlineLease,
    OutboxRecord,
    OutboxUnavailableError,
    StaleLeaseError,
    SubmissionStatus,
)
from facade.outbox.store import Outbox

log = logging.getLogger(__name__)


class DeliveryKind(StrEnum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"  # transient: timeout, connection, SOAP Receiver fault, XDS busy/unavailable
    PERMANENT = "permanent"  # metadata error, unknown patient, TLS rejection...
    DUPLICATE = "duplicate"  # XDSDuplicateUniqueIdInRegistry


@dataclass(frozen=True)
class DeliveryResult:
    kind: DeliveryKind
    response: Mapping[str, Any] = field(default_factory=dict)  # JSON summary of the DMP answer
    error: Failure | None = None
    ambiguous: bool = False  # the request may have reached the DMP (e.g. read timeout after sending)

    @classmethod
    def delivered(cls, response: Mapping[str, Any] | None = None) -> DeliveryResult:
        return cls(DeliveryKind.DELIVERED, response or {})

    @classmethod
    def retryable(cls, error: Failure, *, ambiguous: bool = False) -> DeliveryResult:
        return cls(DeliveryKind.RETRYABLE, error=error, ambiguous=ambiguous)

    @classmethod
    def permanent(cls, error: Failure, *, ambiguous: bool = False) -> DeliveryResult:
        return cls(DeliveryKind.PERMANENT, error=error, ambiguous=ambiguous)

    @classmethod
    def duplicate(cls, error: Failure | None = None, response: Mapping[str, Any] | None = None) -> DeliveryResult:
        return cls(DeliveryKind.DUPLICATE, response or {}, error=error)


Deliver = Callable[[OutboxRecord], DeliveryResult]


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY_SCHEDULED = "retry-scheduled"
    DEAD = "dead"
    LOST_LEASE = "lost-lease"  # our lease expired before we could start or report: the new holder decides


@dataclass(frozen=True)
class RelayOutcome:
    submission_id: str
    outcome: Outcome
    record: SubmissionStatus | None  # the record after the change (None when the lease was lost)


# Told of every attempt once its outcome is recorded: (record as claimed, result, outcome, seconds in deliver).
Observer = Callable[[OutboxRecord, DeliveryResult, RelayOutcome, float], None]

_PROCESS_OWNER: tuple[int, str] | None = None


def default_owner() -> str:
    """This process as a lease owner, ``host:pid:token``: the same for all its relays (each adds ``-<name>``), a new
    token in each process (a restart that gets the same pid, as pid 1 in a container, is another owner)."""
    global _PROCESS_OWNER
    pid = os.getpid()
    if _PROCESS_OWNER is None or _PROCESS_OWNER[0] != pid:  # recomputed in a forked child
        _PROCESS_OWNER = (pid, f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}")
    return _PROCESS_OWNER[1]


_DUPLICATE = Failure(
    Problem.XDS_DUPLICATE_UNIQUE_ID.spec.code,
    "The DMP already holds a document with this uniqueId (XDSDuplicateUniqueIdInRegistry)",
    {"xds_error_code": "XDSDuplicateUniqueIdInRegistry"},
)


class Relay:
    def __init__(
        self,
        outbox: Outbox,
        deliver: Deliver,
        policy: RetryPolicy,
        clock: Callable[[], datetime] = system_now,
        owner: str | None = None,
        *,
        lease: timedelta = timedelta(minutes=5),
        batch: int = 10,
        rng: Rng = random.random,
        observe: Observer | None = None,
    ) -> None:
        if lease < timedelta(seconds=1):
            raise ValueError("lease must be at least one second (and outlast the longest deliver call)")
        if batch < 1:
            raise ValueError("batch must be >= 1")
        self.outbox = outbox
        self.owner = owner or default_owner()
        self._deliver = deliver
        self._policy = policy
        self._clock = clock
        self._lease = lease
        self._batch = batch
        self._rng = rng
        self._observe = observe

    def run_once(self) -> list[RelayOutcome]:
        """Claim and process due records, one lease at a time (a record never waits in a local batch while its
        lease runs out), up to ``batch`` records. Returns what happened to each."""
        outcomes: list[RelayOutcome] = []
        for _ in range(self._batch):
            claimed = self.outbox.claim(self._clock(), self._lease, 1, self.owner)
            if not claimed:
                break
            outcomes.append(self.handle(claimed[0]))
        return outcomes

    def inline_lease(self) -> InlineLease:
        """This relay's lease for a record it enqueues and attempts at once (``NewSubmission.lease``)."""
        return InlineLease(self.owner, self._lease)

    def process(self, submission_id: str) -> RelayOutcome | None:
        """One attempt on one record now, if it is claimable (the API's inline attempt); None if it is not
        (already leased by a relay, delivered, dead, or not due)."""
        record = self.outbox.claim_id(submission_id, self._clock(), self._lease, self.owner)
        return self.handle(record) if record is not None else None

    def handle(self, record: OutboxRecord) -> RelayOutcome:
        """Deliver one record this relay has claimed and record the outcome. Log lines carry the submission's
        request id and trace id (a request being served, for the inline attempt, keeps its own context)."""
        context = RequestContext(record.request_id or record.id, trace=parse_traceparent(record.traceparent))
        with bind_request(context, replace=False):
            return self._handle(record)

    def _handle(self, record: OutboxRecord) -> RelayOutcome:
        if record.lease_until is not None and self._clock() >= record.lease_until:
            log.warning("outbox: lease on %s expired before the attempt; leaving it to the next holder", record.id)
            return RelayOutcome(record.id, Outcome.LOST_LEASE, None)
        started = time.perf_counter()
        try:
            result = self._deliver(record)
        except Exception as exc:  # a bug or an unmapped error in deliver: the request may have gone out
            log.exception("outbox: deliver raised for %s (attempt %d)", record.id, record.attempts)
            result = DeliveryResult.retryable(
                Failure(Problem.INTERNAL.spec.code, f"{type(exc).__name__}: {exc}"[:500]), ambiguous=True
            )
        seconds = time.perf_counter() - started
        try:
            outcome = self._record(record, result)
        except StaleLeaseError:
            log.warning("outbox: %s was taken over by another relay; dropping this attempt's failure", record.id)
            outcome = RelayOutcome(record.id, Outcome.LOST_LEASE, None)
        if self._observe is not None:
            try:
                self._observe(record, result, outcome, seconds)
            except Exception:  # counting must never disturb delivery
                log.exception("outbox: the attempt observer failed for %s", record.id)
        return outcome

    def _record(self, record: OutboxRecord, result: DeliveryResult) -> RelayOutcome:
        if result.kind is DeliveryKind.DELIVERED:
            return self._complete(record, result.response)
        if result.kind is DeliveryKind.DUPLICATE:
            if record.ambiguous:  # an earlier attempt of this very record landed
                return self._complete(record, {**result.response, "duplicate_after_ambiguous_attempt": True})
            return self._dead(record, result.error or _DUPLICATE, ambiguous=False)
        error = result.error or Failure(Problem.INTERNAL.spec.code, f"{result.kind} without an error")
        if result.kind is DeliveryKind.PERMANENT:
            return self._dead(record, error, ambiguous=result.ambiguous)
        decision = self._policy.decide(
            attempts=record.attempts, since=record.retry_since, now=self._clock(), rng=self._rng
        )
        if decision.retry_at is None:
            return self._dead(record, error.with_details(dead_reason=decision.reason), ambiguous=result.ambiguous)
        updated = self.outbox.fail(record.id, error, decision.retry_at, ambiguous=result.ambiguous, owner=self.owner)
        log.info(
            "outbox: %s attempt %d failed (%s), retry at %s",
            record.id,
            record.attempts,
            error.code,
            decision.retry_at.isoformat(),
        )
        return RelayOutcome(record.id, Outcome.RETRY_SCHEDULED, updated)

    def _complete(self, record: OutboxRecord, response: Mapping[str, Any]) -> RelayOutcome:
        updated = self.outbox.complete(record.id, response, owner=self.owner)
        log.info("outbox: %s delivered (attempt %d)", record.id, record.attempts)
        return RelayOutcome(record.id, Outcome.DELIVERED, updated)

    def _dead(self, record: OutboxRecord, error: Failure, *, ambiguous: bool) -> RelayOutcome:
        updated = self.outbox.fail(record.id, error, None, ambiguous=ambiguous, owner=self.owner)
        log.warning("outbox: %s dead after attempt %d (%s)", record.id, record.attempts, error.code)
        return RelayOutcome(record.id, Outcome.DEAD, updated)

    def run_forever(self, stop_event: threading.Event, poll_interval: float = 1.0) -> None:
        """Loop until ``stop_event`` is set: work while there is work, otherwise wait ``poll_interval`` seconds.
        A store outage or a bug is logged and the loop goes on (the leases keep the records safe)."""
        while not stop_event.is_set():
            try:
                busy = len(self.run_once()) >= self._batch
            except OutboxUnavailableError as exc:
                log.warning("outbox: store unavailable (%s); relay %s waits", exc, self.owner)
                busy = False
            except Exception:
                log.exception("outbox: relay %s loop error", self.owner)
                busy = False
            if not busy:
                stop_event.wait(poll_interval)

    def start(self, stop_event: threading.Event, poll_interval: float = 1.0) -> threading.Thread:
        thread = threading.Thread(
            target=self.run_forever, args=(stop_event, poll_interval), name=f"outbox-relay-{self.owner}", daemon=True
        )
        thread.start()
        return thread
