"""Idempotency at the HTTP level, against the facade and the simulator running as processes (issue 5):

* the same Idempotency-Key twice -> the same answer, one request to the DMP, one document;
  the same key with another body -> 422, nothing sent; concurrent posts with one key -> one document;
* the same DocumentReference posted twice without a key -> one document; another bundle carrying the same
  document uniqueId -> 409, nothing sent;
* a read timeout after the request was sent (simulator slower than the read timeout), then retries -> the DMP
  answers XDSDuplicateUniqueIdInRegistry -> the submission is counted delivered (the earlier attempt landed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from facade.outbox.record import State

from .harness import BundleFactory, FacadeTuning, Stack, post

pytestmark = pytest.mark.slow

TUNING = FacadeTuning(read_timeout=1.5, lease_seconds=15.0, retry_base_seconds=0.3, retry_max_delay_seconds=1.0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("idempotency"), TUNING)
    try:
        stack.start_simulator()
        stack.start_facade()
        yield stack
    finally:
        stack.stop()


@pytest.fixture()
def factory(stack: Stack) -> BundleFactory:
    stack.set_script([], default="ok")
    return BundleFactory()


@pytest.fixture()
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0, trust_env=False) as c:
        yield c


def _issue_codes(body: dict[str, object] | None) -> list[str]:
    assert body is not None and body.get("resourceType") == "OperationOutcome", body
    issues = body["issue"]
    assert isinstance(issues, list)
    return [c["code"] for i in issues for c in i["details"]["coding"]]


def test_same_idempotency_key_twice_same_answer_one_document(
    stack: Stack, factory: BundleFactory, client: httpx.Client
) -> None:
    sub = factory.submission(1, idempotency_key=f"idem-{factory.root}")
    first = post(client, stack.fhir_base, sub)
    second = post(client, stack.fhir_base, sub)
    assert first.status == 200, first.body
    assert (second.status, second.body) == (first.status, first.body)

    other = factory.submission(2, idempotency_key=sub.idempotency_key)  # same key, different request
    reused = post(client, stack.fhir_base, other)
    assert reused.status == 422
    assert "idempotency-key-reused" in _issue_codes(reused.body)

    assert stack.stored_counts()[sub.unique_id] == 1
    assert other.unique_id not in stack.stored_counts()
    sent = stack.iti41_requests_mentioning([sub.unique_id, other.unique_id])
    assert sent == {sub.unique_id: 1}  # the replay and the refused request sent nothing


def test_concurrent_posts_with_one_key_give_one_document(
    stack: Stack, factory: BundleFactory, client: httpx.Client
) -> None:
    stack.set_script(default="slow:1")  # the first send is still in flight when the others arrive
    sub = factory.submission(3, idempotency_key=f"idem-concurrent-{factory.root}")
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda _: post(client, stack.fhir_base, sub), range(5)))
    assert all(r.accepted for r in results), [(r.status, r.body) for r in results]
    stack.wait_until_settled(30)
    assert post(client, stack.fhir_base, sub).status == 200
    assert stack.stored_counts()[sub.unique_id] == 1
    assert stack.iti41_requests_mentioning([sub.unique_id]) == {sub.unique_id: 1}


def test_same_document_twice_without_key_one_document(
    stack: Stack, factory: BundleFactory, client: httpx.Client
) -> None:
    sub = factory.submission(4)
    first = post(client, stack.fhir_base, sub)
    again = post(client, stack.fhir_base, sub)
    assert first.status == 200, first.body
    assert (again.status, again.body) == (first.status, first.body)

    # another bundle (new SubmissionSet, new fullUrls) carrying the same document uniqueId
    clash = factory.submission(4)
    assert clash.body != sub.body and clash.unique_id == sub.unique_id
    refused = post(client, stack.fhir_base, clash)
    # Refused as a conflict, nothing sent: another request carrying a document that is already submitted.
    assert (refused.status, _issue_codes(refused.body)[0]) == (409, "document-already-submitted"), refused.body

    assert stack.stored_counts()[sub.unique_id] == 1
    assert stack.iti41_requests_mentioning([sub.unique_id]) == {sub.unique_id: 1}


def test_timeout_after_send_then_duplicate_counts_as_delivered(
    stack: Stack, factory: BundleFactory, client: httpx.Client
) -> None:
    # The first attempt reaches the DMP, which answers after the facade's read timeout (1.5 s) and stores the
    # document at 3 s. Retries meet "busy" until then, so the first retry that gets through is answered duplicate.
    stack.set_script(["slow:3"] + ["busy"] * 500, default="ok")
    sub = factory.submission(5)
    first = post(client, stack.fhir_base, sub)
    assert first.status == 202, first.body
    assert _issue_codes(first.body) == ["submission-queued", "submission-last-error"]
    assert "Last attempt: transport-timeout" in str(first.body)  # the read timeout, shown with the queued state

    deadline = time.monotonic() + 20
    while sub.unique_id not in stack.stored_counts():
        assert time.monotonic() < deadline, "the slow request was never stored by the simulator"
        time.sleep(0.2)
    stack.set_script([], default="ok")
    stack.wait_until_settled(30)

    outbox = stack.outbox()
    try:
        (record,) = outbox.find_by_document_unique_id(sub.unique_id)
    finally:
        outbox.close()
    assert record.state is State.DELIVERED
    assert record.ambiguous
    assert record.response is not None and record.response.get("duplicate_after_ambiguous_attempt") is True
    assert record.attempts >= 2

    again = post(client, stack.fhir_base, sub)  # the client's own retry now sees the delivery
    assert again.status == 200
    assert again.body is not None and again.body["type"] == "transaction-response"
    assert stack.stored_counts()[sub.unique_id] == 1
    assert stack.iti41_requests_mentioning([sub.unique_id])[sub.unique_id] >= 2  # sent more than once, stored once
