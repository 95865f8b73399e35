"""Prometheus metrics (``GET /metrics``, prometheus-client): what the facade did, counted where it happens, and
what the store and the credentials say now, read at scrape time.

Counted as it happens (per process; summed over the workers of ``facade serve --workers N``, see below):

* ``facade_submissions_total{outcome, type, site}``: per document (its typeCode, LOINC) and emitting site (FINESS
  EG). ``accepted``: stored in the outbox; ``delivered``: the DMP accepted it; ``rejected``: the DMP refused it
  for good (a RegistryError or SOAP fault no retry changes); ``dead``: given up otherwise (retry horizon reached,
  even on "busy" answers; TLS refusal; configuration);
  ``refused``: refused by the facade before the outbox (once per request, ``type="unknown"`` when its documents
  could not be read).
* ``facade_refusals_total{problem}``: requests refused by the facade, by problem code (facade/problems.py).
* ``facade_dmp_errors_total{code}``: failed attempts, by XDS errorCode (or SOAP fault subcode); an attempt without
  an answer of the DMP (timeout, connection, TLS) counts under the facade's problem code.
* ``facade_conversion_seconds``: FHIR -> CDA + XDS metadata + lot signature of a submission.
* ``facade_dmp_request_seconds{result}``: one ITI-41 attempt (VIHF, HTTP exchange, answer checked), by result.
* ``facade_delivery_delay_seconds``: acceptance (stored in the outbox) to the DMP's acceptance.

Read at scrape time (``StateCollector``, from the store and the loaded credentials, so every worker answers the
same): ``facade_outbox_submissions{state}``, ``facade_outbox_backlog`` (pending + failed),
``facade_outbox_oldest_waiting_seconds``, ``facade_outbox_store_up``,
``facade_certificate_days_to_expiry{certificate}``.

Several workers: prometheus-client's multiprocess mode (``enable_multiprocess``: one file per process under
``<state>/metrics``, emptied when ``facade serve`` starts). Any worker's ``/metrics`` sums every worker's counters
and histograms, those of replaced workers included, so totals never go back while the service runs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from facade.outbox.record import OutboxRecord
from facade.outbox.relay import DeliveryResult, RelayOutcome
from facade.problems import XDS_ERROR_SYSTEM

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
UNKNOWN_TYPE = "unknown"
SOAP_FAULT_SYSTEM = "http://www.w3.org/2003/05/soap-envelope"  # issue codings of a SOAP fault (xds.error_mapping)

# conversion: tens of ms (N1 PDF) to seconds (large CR-BIO); a DMP exchange: up to the read timeout (120 s)
_CONVERSION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_DMP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_DELAY_BUCKETS = (0.1, 0.5, 1, 5, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


def enable_multiprocess(directory: Path) -> None:
    """Switch this process (and the workers it forks) to prometheus-client's multiprocess mode, in an emptied
    ``directory``. Before any metric is created: values made earlier stay in this process's memory."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    os.environ[MULTIPROCESS_VARIABLE] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def multiprocess_directory() -> Path | None:
    value = os.environ.get(MULTIPROCESS_VARIABLE)
    return Path(value) if value and getattr(values.ValueClass, "_multiprocess", False) else None


@dataclass(frozen=True)
class State:
    """What the store and the credentials say at scrape time (``None``: could not be read)."""

    now: datetime
    sending: bool  # False: a preview-only instance (no store, no credentials: nothing to read)
    counts: Mapping[str, int] | None  # outbox state -> records
    oldest_waiting: datetime | None  # acceptance of the oldest record not delivered nor dead
    certificates_expire: Mapping[str, datetime]  # "auth" / "sign" -> notAfter


class StateCollector(Collector):
    """Gauges read when Prometheus scrapes (never cached: the store is shared by every worker and instance)."""

    def __init__(self, read: Callable[[], State]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        state = self._read()
        if not state.sending:
            return
        up = GaugeMetricFamily("facade_outbox_store_up", "1 when the outbox store could be read at this scrape")
        up.add_metric([], 0 if state.counts is None else 1)
        yield up
        if state.counts is not None:
            by_state = GaugeMetricFamily(
                "facade_outbox_submissions", "Submissions in the outbox, by state", labels=["state"]
            )
            for name, n in sorted(state.counts.items()):
                by_state.add_metric([name], n)
            yield by_state
            backlog = state.counts.get("pending", 0) + state.counts.get("failed", 0)
            yield GaugeMetricFamily(
                "facade_outbox_backlog", "Submissions waiting for delivery (pending + failed)", backlog
            )
            age = (state.now - state.oldest_waiting).total_seconds() if state.oldest_waiting else 0.0
            yield GaugeMetricFamily(
                "facade_outbox_oldest_waiting_seconds",
                "Age of the oldest submission not delivered yet (pending, sending, failed); 0 when none",
                max(age, 0.0),
            )
        certs = GaugeMetricFamily(
            "facade_certificate_days_to_expiry",
            "Days until the ORG certificate expires (auth: AUTH_CLI, mutual TLS; sign: SIGN, VIHF and XAdES)",
            labels=["certificate"],
        )
        for name, not_after in sorted(state.certificates_expire.items()):
            certs.add_metric([name], round((not_after - state.now).total_seconds() / 86400, 3))
        yield certs


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt as the metrics see it (built by the runtime from the relay's report)."""

    result: str  # delivered | retryable | permanent | duplicate
    outcome: str  # delivered | retry-scheduled | dead | lost-lease
    seconds: float
    error_codes: Sequence[str]  # XDS errorCodes / SOAP subcodes of the answer, or the facade's problem code
    answered: bool  # the DMP answered (a RegistryResponse or a SOAP fault), even with an error
    types: Sequence[str]  # the submission's document types
    accepted_at: datetime
    delivered_at: datetime | None


class Metrics:
    """The facade's instruments, on their own registry (one per runtime: tests and apps never share counters)."""

    def __init__(self, *, site: str, state: Callable[[], State] | None = None) -> None:
        self.site = site
        self.registry = CollectorRegistry(auto_describe=True)
        directory = multiprocess_directory()
        # multiprocess: instruments write their per-process file, the exposition reads every worker's files
        own = None if directory is not None else self.registry
        if directory is not None:
            multiprocess.MultiProcessCollector(self.registry, path=str(directory))  # type: ignore[no-untyped-call]
        if state is not None:
            self.registry.register(StateCollector(state))
        self.submissions = Counter(
            "facade_submissions", "Documents by outcome, document type (typeCode) and emitting site (FINESS EG)",
            ["outcome", "type", "site"], registry=own,
        )  # fmt: skip
        self.refusals = Counter(
            "facade_refusals", "Requests refused by the facade before the outbox, by problem code", ["problem"],
            registry=own,
        )  # fmt: skip
        self.dmp_errors = Counter(
            "facade_dmp_errors", "Failed DMP attempts by XDS errorCode (else the facade's problem code)",
            ["code"], registry=own,
        )  # fmt: skip
        self.conversion = Histogram(
            "facade_conversion_seconds", "Conversion of a submission: FHIR -> CDA, XDS metadata, lot signature",
            buckets=_CONVERSION_BUCKETS, registry=own,
        )  # fmt: skip
        self.dmp_request = Histogram(
            "facade_dmp_request_seconds", "One ITI-41 attempt: VIHF, HTTP exchange with the DMP, answer checked",
            ["result"], buckets=_DMP_BUCKETS, registry=own,
        )  # fmt: skip
        self.delivery_delay = Histogram(
            "facade_delivery_delay_seconds", "From acceptance (stored in the outbox) to the DMP's acceptance",
            buckets=_DELAY_BUCKETS, registry=own,
        )  # fmt: skip

    # --- what happened ---

    def accepted(self, types: Sequence[str]) -> None:
        self._documents("accepted", types)

    def refused(self, problem: str, types: Sequence[str] = ()) -> None:
        self.refusals.labels(problem).inc()
        self._documents("refused", types or (UNKNOWN_TYPE,))

    def converted(self, seconds: float) -> None:
        self.conversion.observe(seconds)

    def attempted(self, attempt: Attempt) -> None:
        self.dmp_request.labels(attempt.result).observe(attempt.seconds)
        for code in attempt.error_codes:
            self.dmp_errors.labels(code).inc()
        if attempt.outcome == "delivered":
            self._documents("delivered", attempt.types)
            if attempt.delivered_at is not None:
                self.delivery_delay.observe(max((attempt.delivered_at - attempt.accepted_at).total_seconds(), 0.0))
        elif attempt.outcome == "dead":  # refused for good by the DMP's answer, or given up (horizon, TLS...)
            final = attempt.answered and attempt.result in ("permanent", "duplicate")
            self._documents("rejected" if final else "dead", attempt.types)

    def observe_attempt(
        self, record: OutboxRecord, result: DeliveryResult, outcome: RelayOutcome, seconds: float
    ) -> None:
        """The relay's observer (``facade.outbox.relay.Observer``): one attempt, its outcome recorded."""
        codes: tuple[str, ...] = ()
        answered = False
        if result.error is not None:
            codings = [coding for issue in result.error.issues for coding in issue.codings]
            codes, answered = error_codes(codings, result.error.code)
        after = outcome.record
        self.attempted(
            Attempt(
                result=result.kind.value,
                outcome=outcome.outcome.value,
                seconds=seconds,
                error_codes=codes,
                answered=answered,
                types=document_types(record.context),
                accepted_at=record.created_at,
                delivered_at=after.delivered_at if after is not None else None,
            )
        )

    def _documents(self, outcome: str, types: Sequence[str]) -> None:
        for document_type in types or (UNKNOWN_TYPE,):
            self.submissions.labels(outcome, document_type, self.site).inc()

    # --- exposition ---

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def document_types(context: Mapping[str, object]) -> tuple[str, ...]:
    """The document types a submission's record keeps in its context (``types``; none in older records)."""
    types = context.get("types")
    return tuple(str(t) for t in types) if isinstance(types, list) and types else (UNKNOWN_TYPE,)


def error_codes(codings: Iterable[tuple[str, str]], fallback: str) -> tuple[tuple[str, ...], bool]:
    """An attempt's error codes and whether the DMP answered: the XDS errorCodes of its RegistryErrors, else the
    innermost SOAP fault (sub)code, else ``fallback`` (the facade's problem code: no answer, or one without codes)."""
    codings = list(codings)
    xds = tuple(dict.fromkeys(code for system, code in codings if system == XDS_ERROR_SYSTEM))
    if xds:
        return xds, True
    fault = [code for system, code in codings if system == SOAP_FAULT_SYSTEM]
    if fault:
        return (fault[-1],), True
    return (fallback,), False
