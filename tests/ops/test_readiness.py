"""Liveness and readiness: /health/live answers while the process runs; /health/ready turns 503 with its reasons
when the store is unavailable, a certificate expired, the DMP stays unreachable, or the backlog passes its limit."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from facade.pki import TestPki
from facade.readiness import Facts, Reachability, assess
from facade.settings import Settings
from facade.simulator import SimulatorConfig, SimulatorServer
from tests.e2e.conftest import FACILITY, STRUCTURE_ID, Facade, bundle

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
VALID = {"auth": NOW + timedelta(days=300), "sign": NOW + timedelta(days=30)}
REACHABLE = Reachability(None, None, NOW - timedelta(minutes=1))
LETTER = "ldl-ses/pdf-discharge-letter.json"


def _facts(**changes: object) -> Facts:
    base = {"now": NOW, "sending": True, "backlog": 0, "certificates_expire": VALID, "reachability": REACHABLE}
    return Facts(**{**base, **changes})  # type: ignore[arg-type]


def _codes(facts: Facts, *, dmp_unreachable_seconds: float | None = 600, max_backlog: int | None = 10) -> list[str]:
    readiness = assess(facts, dmp_unreachable_seconds=dmp_unreachable_seconds, max_backlog=max_backlog)
    assert readiness.ready == (not readiness.reasons)
    return [r.code for r in readiness.reasons]


def test_each_rule_alone() -> None:
    assert _codes(_facts()) == []
    assert _codes(_facts(store_error="OperationalError", backlog=None)) == ["store-unavailable"]
    assert _codes(_facts(certificates_expire={**VALID, "sign": NOW - timedelta(seconds=1)})) == ["certificate-expired"]
    assert _codes(_facts(backlog=11)) == ["backlog"]
    assert _codes(_facts(backlog=10)) == []  # the limit itself is still ready
    assert _codes(_facts(backlog=10_000), max_backlog=None) == []  # None: no limit


def test_the_dmp_counts_only_past_the_configured_time() -> None:
    down = Reachability(NOW - timedelta(seconds=599), "transport-connection", NOW - timedelta(hours=1))
    assert _codes(_facts(reachability=down)) == []
    later = Facts(**{**_facts(reachability=down).__dict__, "now": NOW + timedelta(seconds=1)})
    readiness = assess(later, dmp_unreachable_seconds=600, max_backlog=10)
    assert [r.code for r in readiness.reasons] == ["dmp-unreachable"]
    assert "transport-connection" in readiness.reasons[0].message
    assert _codes(later, dmp_unreachable_seconds=None) == []  # None: never


def test_an_instance_that_only_previews_is_ready() -> None:
    assert assess(Facts(now=NOW, sending=False), dmp_unreachable_seconds=0, max_backlog=0).ready


def test_the_body_lists_reasons_and_checks() -> None:
    body = assess(_facts(backlog=11), dmp_unreachable_seconds=600, max_backlog=10).body()
    assert body["status"] == "not-ready"
    assert body["reasons"] == [{"code": "backlog", "message": "11 submissions wait for delivery (limit 10)"}]
    assert body["checks"]["backlog"] == 11 and body["checks"]["dmp"] == "reachable"
    assert body["checks"]["sign_certificate_expires"] == "2027-01-01T12:00:00Z"


def _configure(**readiness: object) -> Callable[[Settings], None]:
    def configure(settings: Settings) -> None:
        for name, value in readiness.items():
            setattr(settings.readiness, name, value)

    return configure


def _restart(stopped: SimulatorServer, pki: TestPki) -> SimulatorServer:
    """The DMP comes back: a new simulator on the same port and state."""
    config = SimulatorConfig(structures={STRUCTURE_ID: frozenset({"1" + FACILITY.finess_eg})})
    return SimulatorServer(
        stopped.simulator.state_dir,
        ca_cert=pki.ca_cert,
        server_cert=pki.server_cert,
        server_key=pki.server_key,
        port=stopped.port,
        config=config,
    ).start()


def test_readiness_follows_the_dmp_over_mutual_tls(start_facade: Callable[..., Facade], e2e_pki: TestPki) -> None:
    facade = start_facade(configure=_configure(dmp_unreachable_seconds=0, max_backlog=None))
    client = facade.client
    assert client.get("/health/ready").json()["status"] == "ready"
    assert facade.post(bundle(LETTER)).status_code == 200  # delivered: the DMP answered
    assert client.get("/health/ready").status_code == 200

    facade.simulator.stop()  # the DMP goes away
    response = facade.post(bundle("replacement/rplc.json"))
    assert response.status_code == 202, response.text  # accepted, kept in the outbox for a retry
    not_ready = client.get("/health/ready")
    assert not_ready.status_code == 503
    assert [r["code"] for r in not_ready.json()["reasons"]] == ["dmp-unreachable"]
    assert not_ready.json()["checks"]["dmp"] == "unreachable"
    assert client.get("/health/live").status_code == 200  # alive all the same: no restart wanted
    assert client.get("/health").status_code == 200  # the operator's summary as before

    back = _restart(facade.simulator, e2e_pki)
    try:
        outcomes = facade.retry()  # the relay's retry reaches the DMP again
        assert [o.outcome.value for o in outcomes] == ["delivered"], outcomes
        ready = client.get("/health/ready")
        assert ready.status_code == 200 and ready.json() == {
            "status": "ready",
            "reasons": [],
            "checks": {**ready.json()["checks"], "dmp": "reachable", "backlog": 0},
        }
    finally:
        back.stop()


def test_a_backlog_past_the_limit_is_not_ready(start_facade: Callable[..., Facade]) -> None:
    facade = start_facade(configure=_configure(dmp_unreachable_seconds=None, max_backlog=0))
    facade.simulator.stop()
    assert facade.post(bundle(LETTER)).status_code == 202
    response = facade.client.get("/health/ready")
    assert response.status_code == 503
    assert [r["code"] for r in response.json()["reasons"]] == ["backlog"]
    assert response.json()["checks"]["backlog"] == 1


def test_an_unreadable_store_is_not_ready(facade: Facade) -> None:
    database = Path(facade.runtime.settings.resolved_database_url().removeprefix("sqlite:///"))
    assert facade.client.get("/health/ready").status_code == 200
    with sqlite3.connect(database) as other:  # the store breaks under the running facade
        other.execute("ALTER TABLE outbox_submission RENAME TO outbox_submission_away")
    try:
        response = facade.client.get("/health/ready")
        assert response.status_code == 503
        assert [r["code"] for r in response.json()["reasons"]] == ["store-unavailable"]
        assert response.json()["checks"]["store"] == "unavailable"
        assert facade.client.get("/health/live").status_code == 200
    finally:
        with sqlite3.connect(database) as other:
            other.execute("ALTER TABLE outbox_submission_away RENAME TO outbox_submission")
    assert facade.client.get("/health/ready").status_code == 200


def test_a_rule_is_switched_off_with_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACADE_ENVIRONMENT", "development")
    monkeypatch.setenv("FACADE_READINESS__MAX_BACKLOG", "off")
    monkeypatch.setenv("FACADE_READINESS__DMP_UNREACHABLE_SECONDS", "30")
    readiness = Settings().readiness
    assert readiness.max_backlog is None and readiness.dmp_unreachable_seconds == 30
