"""Retry policy: exponential backoff with full jitter, bounded by a horizon (issue 5, "Delivery guarantees").

Pure: the random source is injected (``rng() -> float in [0, 1)``), so every decision is reproducible in tests.
Whether a failure is retryable is decided by the caller (``facade.xds.error_mapping`` / the relay's
``DeliveryResult``); this policy only decides *when* to retry and when to give up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

Rng = Callable[[], float]


@dataclass(frozen=True)
class RetryDecision:
    retry_at: datetime | None  # None: give up (the record goes dead)
    reason: str | None = None  # why we gave up

    @property
    def give_up(self) -> bool:
        return self.retry_at is None


@dataclass(frozen=True)
class RetryPolicy:
    """``delay(n) = U(0, min(max_delay, base_delay * factor ** (n - 1)))`` ("full jitter", spreading the retries
    of many records after an outage), where n is the number of attempts already made.

    Gives up when ``max_attempts`` attempts were made, or when the horizon (counted from the record's
    ``retry_since``) has passed. The last retry is clamped to the horizon, so the whole horizon is used."""

    base_delay: timedelta = timedelta(seconds=5)
    factor: float = 2.0
    max_delay: timedelta = timedelta(minutes=15)
    horizon: timedelta = timedelta(hours=24)
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.base_delay <= timedelta(0):
            raise ValueError("base_delay must be positive")
        if self.factor < 1:
            raise ValueError("factor must be >= 1")
        if self.max_delay < self.base_delay:
            raise ValueError("max_delay must be >= base_delay")
        if self.horizon <= timedelta(0):
            raise ValueError("horizon must be positive")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")

    def ceiling(self, attempts: int) -> timedelta:
        """Upper bound of the delay after ``attempts`` attempts (>= 1)."""
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        try:
            seconds = self.base_delay.total_seconds() * self.factor ** (attempts - 1)
        except OverflowError:  # factor ** huge: the cap applies anyway
            return self.max_delay
        return min(self.max_delay, timedelta(seconds=seconds))

    def delay(self, attempts: int, rng: Rng) -> timedelta:
        u = rng()
        if not 0.0 <= u < 1.0:
            raise ValueError(f"rng() must return a float in [0, 1), got {u!r}")
        return self.ceiling(attempts) * u

    def decide(self, *, attempts: int, since: datetime, now: datetime, rng: Rng) -> RetryDecision:
        """After a retryable failure of attempt number ``attempts``: when to try again, or give up."""
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return RetryDecision(None, f"gave up after {attempts} attempts (max_attempts={self.max_attempts})")
        deadline = since + self.horizon
        if now >= deadline:
            return RetryDecision(
                None, f"gave up after {attempts} attempts: retry horizon of {_human(self.horizon)} exhausted"
            )
        return RetryDecision(min(now + self.delay(attempts, rng), deadline))


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
