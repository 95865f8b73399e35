"""Readiness: may a load balancer send this instance submissions? (``GET /health/ready``: 200, or 503 with reasons)

Not ready when the store cannot be read, a certificate has expired, the DMP has been unreachable for longer than
``readiness.dmp_unreachable_seconds``, or the backlog passes ``readiness.max_backlog``. Liveness (``/health/live``)
only says that the process answers.

The DMP's reachability is what this process saw on its own attempts (``DmpReachability.watch`` wraps the
transport): a transport failure (connection, TLS, timeout) starts the unreachable period, any answer of the DMP
ends it, a SOAP fault included. Recovery is noticed by the relay's next retry: the outbox keeps the failed
submissions until then, so an instance that is out of rotation still finds out when the DMP is back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from facade.errors import TransportError
from facade.soap.envelope import SoapRequest, SoapResponse
from facade.transport.base import XdsTransport

READY = "ready"
NOT_READY = "not-ready"


@dataclass(frozen=True)
class Reason:
    code: str  # store-unavailable | certificate-expired | dmp-unreachable | backlog
    message: str


@dataclass(frozen=True)
class Reachability:
    unreachable_since: datetime | None  # first failed attempt since the last answer; None while reachable
    last_error: str | None  # problem code of the last transport failure
    last_answer_at: datetime | None


class DmpReachability:
    """Thread-safe record of the DMP's answers, fed by every attempt of this process (inline and relay)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._state = Reachability(None, None, None)

    def answered(self) -> None:
        with self._lock:
            self._state = Reachability(None, None, self._clock())

    def failed(self, code: str) -> None:
        with self._lock:
            since = self._state.unreachable_since or self._clock()
            self._state = Reachability(since, code, self._state.last_answer_at)

    def snapshot(self) -> Reachability:
        with self._lock:
            return self._state

    def watch(self, transport: XdsTransport) -> XdsTransport:
        return _WatchedTransport(transport, self)


class _WatchedTransport:
    def __init__(self, inner: XdsTransport, reachability: DmpReachability) -> None:
        self._inner, self._reachability = inner, reachability

    def send(self, request: SoapRequest) -> SoapResponse:
        try:
            response = self._inner.send(request)
        except TransportError as exc:
            self._reachability.failed(exc.problem.spec.code)
            raise
        self._reachability.answered()
        return response


@dataclass(frozen=True)
class Readiness:
    reasons: tuple[Reason, ...]
    checks: Mapping[str, Any]

    @property
    def ready(self) -> bool:
        return not self.reasons

    def body(self) -> dict[str, Any]:
        return {
            "status": READY if self.ready else NOT_READY,
            "reasons": [{"code": r.code, "message": r.message} for r in self.reasons],
            "checks": dict(self.checks),
        }


@dataclass(frozen=True)
class Facts:
    """What the runtime observed; ``assess`` judges it (pure, so every rule is testable without I/O)."""

    now: datetime
    sending: bool
    store_error: str | None = None  # why the store could not be read
    backlog: int | None = None  # submissions waiting for delivery (pending + failed)
    certificates_expire: Mapping[str, datetime] | None = None  # "auth" / "sign" -> notAfter
    reachability: Reachability | None = None


def assess(facts: Facts, *, dmp_unreachable_seconds: float | None, max_backlog: int | None) -> Readiness:
    reasons: list[Reason] = []
    checks: dict[str, Any] = {"sending": facts.sending}
    if not facts.sending:  # preview-only instance: nothing to deliver, nothing to wait for
        return Readiness((), checks)
    if facts.store_error is not None:
        reasons.append(Reason("store-unavailable", f"the outbox store cannot be read: {facts.store_error}"))
    checks["store"] = "unavailable" if facts.store_error is not None else "ok"
    for name, not_after in sorted((facts.certificates_expire or {}).items()):
        checks[f"{name}_certificate_expires"] = not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
        if not_after <= facts.now:
            reasons.append(
                Reason("certificate-expired", f"the {name.upper()} certificate expired on {not_after:%Y-%m-%d}")
            )
    seen = facts.reachability
    if seen is not None:
        down = (facts.now - seen.unreachable_since).total_seconds() if seen.unreachable_since else 0.0
        checks["dmp"] = "unreachable" if seen.unreachable_since else "reachable"
        checks["dmp_unreachable_seconds"] = round(down)
        if seen.unreachable_since and dmp_unreachable_seconds is not None and down >= dmp_unreachable_seconds:
            reasons.append(
                Reason(
                    "dmp-unreachable",
                    f"every attempt to reach the DMP has failed for {round(down)} s (last: {seen.last_error}; "
                    f"limit {dmp_unreachable_seconds:g} s)",
                )
            )
    if facts.backlog is not None:
        checks["backlog"] = facts.backlog
        if max_backlog is not None and facts.backlog > max_backlog:
            reasons.append(Reason("backlog", f"{facts.backlog} submissions wait for delivery (limit {max_backlog})"))
    return Readiness(tuple(reasons), checks)
