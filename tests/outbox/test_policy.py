"""RetryPolicy: one table row per case (architecture §7.8 item 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from facade.outbox import RetryPolicy

T = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
POLICY = RetryPolicy(base_delay=2 * S, factor=3.0, max_delay=60 * S, horizon=timedelta(hours=1))


@pytest.mark.parametrize(
    ("attempts", "ceiling"),
    [
        (1, 2 * S),  # base
        (2, 6 * S),  # base * factor
        (3, 18 * S),
        (4, 54 * S),
        (5, 60 * S),  # capped by max_delay
        (10_000, 60 * S),  # no overflow for absurd attempt counts
    ],
)
def test_ceiling_grows_exponentially_up_to_the_cap(attempts: int, ceiling: timedelta) -> None:
    assert POLICY.ceiling(attempts) == ceiling


@pytest.mark.parametrize(
    ("attempts", "u", "delay"),
    [
        (1, 0.0, timedelta(0)),  # full jitter: the lower bound is zero
        (1, 0.5, 1 * S),
        (3, 0.5, 9 * S),
        (3, 0.999999, 18 * S * 0.999999),
        (7, 0.25, 15 * S),  # a quarter of the cap
    ],
)
def test_delay_is_a_uniform_draw_below_the_ceiling(attempts: int, u: float, delay: timedelta) -> None:
    assert POLICY.delay(attempts, lambda: u) == delay


@pytest.mark.parametrize(
    ("attempts", "elapsed", "u", "retry_in", "reason"),
    [
        (1, timedelta(0), 0.5, 1 * S, None),
        (4, timedelta(minutes=10), 0.5, 27 * S, None),
        # the last retry is clamped to the horizon, so the whole horizon is used
        (9, timedelta(minutes=59, seconds=50), 0.9, 10 * S, None),
        (9, timedelta(hours=1), 0.5, None, "retry horizon of 1h exhausted"),
        (9, timedelta(hours=5), 0.0, None, "retry horizon of 1h exhausted"),
    ],
)
def test_decide_retries_until_the_horizon_then_gives_up_with_a_reason(
    attempts: int, elapsed: timedelta, u: float, retry_in: timedelta | None, reason: str | None
) -> None:
    now = T + elapsed
    decision = POLICY.decide(attempts=attempts, since=T, now=now, rng=lambda: u)
    if retry_in is None:
        assert decision.give_up and decision.retry_at is None
        assert reason is not None and decision.reason is not None and reason in decision.reason
        assert f"after {attempts} attempts" in decision.reason
    else:
        assert not decision.give_up and decision.reason is None
        assert decision.retry_at == now + retry_in


@pytest.mark.parametrize(("attempts", "gives_up"), [(1, False), (2, False), (3, True), (4, True)])
def test_max_attempts_bounds_the_number_of_tries(attempts: int, gives_up: bool) -> None:
    policy = RetryPolicy(base_delay=S, max_delay=10 * S, horizon=timedelta(days=1), max_attempts=3)
    decision = policy.decide(attempts=attempts, since=T, now=T, rng=lambda: 0.5)
    assert decision.give_up is gives_up
    if gives_up:
        assert decision.reason == f"gave up after {attempts} attempts (max_attempts=3)"


def test_decisions_are_reproducible_with_a_seeded_rng() -> None:
    import random

    def run(seed: int) -> list[datetime | None]:
        rng = random.Random(seed)
        return [POLICY.decide(attempts=n, since=T, now=T, rng=rng.random).retry_at for n in range(1, 8)]

    assert run(7) == run(7)
    assert run(7) != run(8)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_delay": timedelta(0)},
        {"factor": 0.5},
        {"base_delay": 10 * S, "max_delay": 5 * S},
        {"horizon": timedelta(0)},
        {"max_attempts": 0},
    ],
)
def test_nonsense_configurations_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("u", [-0.1, 1.0, 2.0])
def test_an_rng_outside_the_unit_interval_is_refused(u: float) -> None:
    with pytest.raises(ValueError, match="rng"):
        POLICY.delay(1, lambda: u)


def test_the_policy_is_frozen() -> None:
    with pytest.raises(AttributeError):
        POLICY.factor = 1.0  # type: ignore[misc]
