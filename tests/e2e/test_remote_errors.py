"""Issue 3: every answer the DMP (simulator) can give maps to its OperationOutcome through the real stack, per the
one table (facade/xds/error_mapping.py): HTTP status, issue code, our problem code and the DMP's own code in
details.coding. Permanent errors are final after one attempt; transient ones answer 202 with a Task that shows the
failed attempt and the retry, and the next relay pass delivers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from facade.errors import PROBLEM_SYSTEM, XDS_ERROR_SYSTEM
from facade.outcomes import operation_outcome
from facade.runtime import Runtime
from facade.settings import Settings
from facade.soap.envelope import SOAP12_NS

from . import tampering as t
from .conftest import Facade, bundle, outcome_codes, task_output

LETTER = "ldl-ses/pdf-discharge-letter.json"
LETTER_UID = "1.2.250.1.999.1.1.100.1"


@dataclass(frozen=True)
class Case:
    id: str
    status: int  # final HTTP status of the first answer (202 for a retryable failure)
    issue_code: str  # FHIR issue type of the DMP error
    problem: str  # our problem code
    remote: tuple[str, str] | None  # (system, code) the DMP answered; None when it did not answer
    script: tuple[str, ...] = ()
    mutation: t.Mutation | None = None
    already_in_dmp: bool = False

    @property
    def retryable(self) -> bool:
        return self.status == 202


def xds(code: str) -> tuple[str, str]:
    return (XDS_ERROR_SYSTEM, code)


PERMANENT = [
    Case(
        "metadata-error", 422, "invalid", "xds-metadata-rejected", xds("XDSRegistryMetadataError"), ("metadata-error",)
    ),
    Case("unknown-patient", 422, "not-found", "xds-unknown-patient", xds("XDSUnknownPatientId"), ("unknown-patient",)),
    Case(
        "duplicate",
        409,
        "duplicate",
        "xds-duplicate-unique-id",
        xds("XDSDuplicateUniqueIdInRegistry"),
        already_in_dmp=True,
    ),
    Case("hash", 500, "exception", "xds-integrity", xds("XDSNonIdenticalHash"), mutation=t.flip_cda_byte),
    Case("size", 500, "exception", "xds-integrity", xds("XDSNonIdenticalSize"), mutation=t.wrong_size),
    Case(
        "manifest-digest",
        422,
        "invalid",
        "xds-metadata-rejected",
        xds("XDSRegistryMetadataError"),
        mutation=t.flip_cda_byte_and_fix_hash,
    ),
    Case(
        "document-unique-id",
        422,
        "invalid",
        "xds-metadata-rejected",
        xds("XDSDocumentUniqueIdError"),
        mutation=t.other_unique_id,
    ),
    Case(
        "patient-mismatch",
        422,
        "business-rule",
        "xds-business-rule",
        xds("XDSPatientIdDoesNotMatch"),
        mutation=t.other_patient,
    ),
    Case(
        "missing-document",
        422,
        "required",
        "xds-missing-content",
        xds("XDSMissingDocument"),
        mutation=t.without_document,
    ),
]
RETRYABLE = [
    Case("busy", 202, "transient", "xds-transient", xds("XDSRegistryBusy"), ("busy",)),
    Case("repository-busy", 202, "transient", "xds-transient", xds("XDSRepositoryBusy"), ("repository-busy",)),
    Case("soap-fault-receiver", 202, "transient", "soap-fault-receiver", (SOAP12_NS, "Receiver"), ("soap-fault",)),
]


def _start(start_facade: Callable[..., Facade], case: Case) -> Facade:
    if case.already_in_dmp:  # another installation (own outbox) delivered the same documents first
        assert start_facade().post(bundle(LETTER)).status_code == 200
    prepare: Callable[[Runtime], None] | None = t.tampering(case.mutation) if case.mutation else None
    facade = start_facade(prepare=prepare)
    if case.script:
        facade.simulator.script.set(list(case.script))
    return facade


@pytest.mark.parametrize("case", PERMANENT, ids=lambda c: c.id)
def test_permanent_dmp_error_is_final(start_facade: Callable[..., Facade], case: Case) -> None:
    facade = _start(start_facade, case)
    before = len(facade.inbox())

    response = facade.post(bundle(LETTER))

    assert response.status_code == case.status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    first = outcome["issue"][0]
    assert first["severity"] in ("error", "fatal") and first["code"] == case.issue_code
    codes = outcome_codes(outcome)
    assert (PROBLEM_SYSTEM, case.problem) in codes and case.remote in codes
    record = facade.record(response)
    assert record.state.value == "dead" and record.attempts == 1
    assert facade.retry() == []  # nothing retried
    assert len(facade.inbox()) == before + 1
    task = facade.task(response)
    assert task["status"] == "failed"
    assert task_output(task) == outcome  # the status resource repeats the stored answer exactly
    again = facade.post(bundle(LETTER))  # a client retry gets the same answer, nothing is resent
    assert (again.status_code, again.json()) == (case.status, outcome)
    assert len(facade.inbox()) == before + 1
    if not case.already_in_dmp:
        assert facade.simulator.simulator.registry.documents() == []


def _assert_retry_scheduled(facade: Facade, response: httpx.Response, case: Case) -> None:
    assert response.status_code == 202, response.text
    assert response.headers["location"] == response.headers["content-location"]
    outcome = response.json()
    problems = [i["details"]["coding"][0]["code"] for i in outcome["issue"]]
    assert problems == ["submission-queued", "submission-last-error"]
    last = outcome["issue"][1]
    assert last["severity"] == "warning" and case.problem in last["details"]["text"]
    if case.remote is not None:
        assert case.remote in outcome_codes(outcome)  # the DMP's code stays machine-readable while retrying
    record = facade.record(response)
    assert record.state.value == "failed" and record.attempts == 1 and record.last_error is not None
    assert record.last_error.code == case.problem
    stored = operation_outcome(record.last_error.issues)  # what the client gets if the retries run out
    assert stored["issue"][0]["code"] == case.issue_code
    assert case.remote is None or case.remote in outcome_codes(stored)
    task = facade.task(response)
    assert task["status"] == "in-progress" and task["businessStatus"]["text"] == "failed"
    assert task["statusReason"]["text"].startswith(case.problem)
    assert "restriction" in task  # when the next attempt is due


@pytest.mark.parametrize("case", RETRYABLE, ids=lambda c: c.id)
def test_transient_dmp_error_is_retried_then_delivered(start_facade: Callable[..., Facade], case: Case) -> None:
    facade = _start(start_facade, case)

    response = facade.post(bundle(LETTER))

    _assert_retry_scheduled(facade, response, case)
    assert facade.simulator.simulator.registry.by_unique_id(LETTER_UID) is None
    (outcome,) = facade.retry()  # the script is used up: the DMP now accepts
    assert outcome.outcome.value == "delivered"
    task = facade.task(response)
    assert task["status"] == "completed" and task["input"][0]["valueInteger"] == 2
    assert facade.simulator.simulator.registry.by_unique_id(LETTER_UID) is not None
    replay = facade.post(bundle(LETTER))
    assert replay.status_code == 200 and replay.json()["type"] == "transaction-response"
    assert len(facade.inbox()) == 2


def test_dropped_connection_is_retried_then_delivered(start_facade: Callable[..., Facade]) -> None:
    facade = start_facade()
    facade.simulator.script.set(["drop"])  # the DMP reads the request and closes without answering

    response = facade.post(bundle(LETTER))

    case = Case("drop", 202, "transient", "transport-protocol", None)
    _assert_retry_scheduled(facade, response, case)
    assert facade.record(response).ambiguous  # it may have been processed
    (outcome,) = facade.retry()
    assert outcome.outcome.value == "delivered"
    assert facade.simulator.simulator.registry.by_unique_id(LETTER_UID) is not None


def _wait_until_stored(facade: Facade, unique_id: str, timeout: float = 20.0) -> None:
    """Synchronisation, not a timing assertion: the slow simulator finishes its work after we gave up."""
    deadline = time.monotonic() + timeout
    while facade.simulator.simulator.registry.by_unique_id(unique_id) is None:
        assert time.monotonic() < deadline, "the simulator never stored the slow submission"
        time.sleep(0.05)


def test_timeout_is_ambiguous_and_a_later_duplicate_means_delivered(start_facade: Callable[..., Facade]) -> None:
    def short_read_timeout(settings: Settings) -> None:
        settings.dmp.read_timeout = 0.5

    facade = start_facade(configure=short_read_timeout)
    facade.simulator.script.set(["slow:2"])  # answers (and stores) after our read timeout

    response = facade.post(bundle(LETTER))

    case = Case("slow", 202, "transient", "transport-timeout", None)
    _assert_retry_scheduled(facade, response, case)
    assert facade.record(response).ambiguous
    _wait_until_stored(facade, LETTER_UID)

    (outcome,) = facade.retry()  # answered XDSDuplicateUniqueIdInRegistry: our first attempt had landed

    assert outcome.outcome.value == "delivered"
    record = facade.record(response)
    assert record.state.value == "delivered" and record.attempts == 2
    assert record.response is not None and record.response.get("duplicate_after_ambiguous_attempt") is True
    replay = facade.post(bundle(LETTER))
    assert replay.status_code == 200 and replay.json()["type"] == "transaction-response"
    assert len(facade.inbox()) == 2
    stored = [d for d in facade.simulator.simulator.registry.documents() if not d.is_signature]
    assert [d.unique_id for d in stored] == [LETTER_UID]  # stored once
