"""GET /metrics against a known load through the real stack (facade + DMP simulator over mutual TLS): each counter,
histogram count and scrape-time gauge equals what the test sent and what the simulator was scripted to answer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from facade.metrics import CONTENT_TYPE
from facade.outbox.record import State
from tests.e2e.conftest import FACILITY, Facade, bundle

ROOT = Path(__file__).resolve().parents[2]
SITE = FACILITY.finess_eg
LETTER, PRESCRIPTION, OPERATIVE, REPORT = "11490-0", "57833-6", "34874-8", "11488-4"  # LOINC typeCodes
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(facade: Facade) -> Samples:
    response = facade.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPE
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def documents(samples: Samples, outcome: str) -> dict[str, float]:
    """facade_submissions_total{outcome=...} per type (this site only: the labels carry the FINESS EG)."""
    out = {}
    for (name, labels), n in samples.items():
        d = dict(labels)
        if name == "facade_submissions_total" and d["outcome"] == outcome:
            assert d["site"] == SITE
            out[d["type"]] = n
    return out


def test_metrics_count_a_known_load(facade: Facade) -> None:
    assert facade.post(bundle("ldl-ses/pdf-discharge-letter.json")).status_code == 200  # delivered
    assert facade.post(bundle("multi/two-documents.json")).status_code == 200  # delivered: 2 documents
    refused = facade.post((ROOT / "tests/data/bundles/ins-wrong-key.json").read_bytes())
    assert refused.status_code == 422  # refused by the facade: never stored
    facade.simulator.script.set(["metadata-error"])
    assert facade.post(bundle("catalogue/ordonnance.json")).status_code == 422  # rejected by the DMP
    facade.simulator.script.set(["busy", "ok"])
    assert facade.post(bundle("cr/text-plain-report.json")).status_code == 202  # XDSRegistryBusy: retry scheduled
    assert [o.outcome.value for o in facade.retry()] == ["delivered"]
    facade.simulator.stop()  # the DMP goes away: the next one waits in the outbox
    assert facade.post(bundle("catalogue/cr-operatoire.json")).status_code == 202

    m = scrape(facade)
    assert documents(m, "accepted") == {LETTER: 2, OPERATIVE: 2, PRESCRIPTION: 1, REPORT: 1}
    assert documents(m, "delivered") == {LETTER: 2, OPERATIVE: 1, REPORT: 1}
    assert documents(m, "rejected") == {PRESCRIPTION: 1}
    assert documents(m, "dead") == {}
    assert sum(documents(m, "refused").values()) == 1
    assert value(m, "facade_refusals_total", problem="ins-key-mismatch") == 1
    assert {dict(k)["code"]: n for (name, k), n in m.items() if name == "facade_dmp_errors_total"} == {
        "XDSRegistryMetadataError": 1,
        "XDSRegistryBusy": 1,
        "transport-connection": 1,
    }
    # six attempts: three delivered, one refused for good, two to retry (busy, then the DMP gone)
    assert value(m, "facade_dmp_request_seconds_count", result="delivered") == 3
    assert value(m, "facade_dmp_request_seconds_count", result="permanent") == 1
    assert value(m, "facade_dmp_request_seconds_count", result="retryable") == 2
    assert value(m, "facade_conversion_seconds_count") == 5  # every accepted submission was converted once
    assert value(m, "facade_conversion_seconds_bucket", le="+Inf") == 5
    assert value(m, "facade_delivery_delay_seconds_count") == 3  # three submissions delivered
    assert value(m, "facade_delivery_delay_seconds_sum") > 0

    # read from the store at scrape time
    assert value(m, "facade_outbox_store_up") == 1
    assert value(m, "facade_outbox_backlog") == 1
    assert value(m, "facade_outbox_submissions", state="delivered") == 3
    assert value(m, "facade_outbox_submissions", state="dead") == 1
    assert value(m, "facade_outbox_submissions", state="failed") == 1
    (waiting,) = facade.runtime.outbox.list_by_state(State.FAILED)
    age = value(m, "facade_outbox_oldest_waiting_seconds")
    assert 0 < age <= (datetime.now(UTC) - waiting.created_at).total_seconds()
    for name, credential in (("auth", facade.runtime.auth_credential), ("sign", facade.runtime.sign_credential)):
        days = (credential.certificate.not_valid_after_utc - datetime.now(UTC)).total_seconds() / 86400
        assert value(m, "facade_certificate_days_to_expiry", certificate=name) == pytest.approx(days, abs=0.01)


def test_the_backlog_gauges_follow_the_store_between_scrapes(facade: Facade) -> None:
    """Not cached: a second scrape after the retry sees the backlog emptied (any worker reads the same store)."""
    facade.simulator.script.set(["busy"])
    assert facade.post(bundle("ldl-ses/pdf-discharge-letter.json")).status_code == 202
    before = scrape(facade)
    assert value(before, "facade_outbox_backlog") == 1 and value(before, "facade_outbox_oldest_waiting_seconds") > 0
    assert [o.outcome.value for o in facade.retry()] == ["delivered"]
    after = scrape(facade)
    assert value(after, "facade_outbox_backlog") == 0
    assert value(after, "facade_outbox_oldest_waiting_seconds") == 0


def test_an_unreadable_store_is_a_gauge_not_an_error(facade: Facade) -> None:
    import sqlite3

    database = Path(facade.runtime.settings.resolved_database_url().removeprefix("sqlite:///"))
    with sqlite3.connect(database) as other:
        other.execute("ALTER TABLE outbox_submission RENAME TO outbox_submission_away")
    try:
        m = scrape(facade)
        assert value(m, "facade_outbox_store_up") == 0
        assert ("facade_outbox_backlog", ()) not in m  # unknown, not zero
        assert value(m, "facade_certificate_days_to_expiry", certificate="auth") > 0
    finally:
        with sqlite3.connect(database) as other:
            other.execute("ALTER TABLE outbox_submission_away RENAME TO outbox_submission")


def test_what_counts_as_rejected_and_as_dead() -> None:
    from facade.metrics import SOAP_FAULT_SYSTEM, Attempt, Metrics, error_codes
    from facade.problems import XDS_ERROR_SYSTEM

    assert error_codes([(XDS_ERROR_SYSTEM, "XDSRegistryBusy")], "xds-busy") == (("XDSRegistryBusy",), True)
    assert error_codes([(SOAP_FAULT_SYSTEM, "Sender"), (SOAP_FAULT_SYSTEM, "DMPInvalidCertificate")], "x") == (
        ("DMPInvalidCertificate",),
        True,
    )
    assert error_codes([], "transport-timeout") == (("transport-timeout",), False)

    metrics = Metrics(site="123456789")
    now = datetime.now(UTC)

    def attempt(result: str, answered: bool, code: str) -> Attempt:
        return Attempt(result, "dead", 0.1, (code,), answered, ("11490-0",), now, None)

    metrics.attempted(attempt("permanent", True, "XDSUnknownPatientId"))  # the DMP said no: rejected
    metrics.attempted(attempt("retryable", True, "XDSRegistryBusy"))  # busy until the horizon: given up
    metrics.attempted(attempt("permanent", False, "tls-rejected"))  # never answered: given up
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for s in family.samples
    }
    by_outcome = {dict(k)["outcome"]: n for (name, k), n in samples.items() if name == "facade_submissions_total"}
    assert by_outcome == {"rejected": 1, "dead": 2}
    assert ("facade_outbox_backlog", ()) not in samples  # no state reader: no store gauges
