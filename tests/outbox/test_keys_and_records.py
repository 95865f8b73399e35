"""Idempotency keys, patient hash, failure summaries: the pure helpers of the outbox."""

from __future__ import annotations

import pytest

from facade.errors import DeliveryError, Issue, Problem
from facade.outbox import (
    Failure,
    client_idempotency_key,
    document_idempotency_key,
    patient_hash,
    request_fingerprint,
)

SECRET = b"0123456789abcdef-installation"


def test_document_key_ignores_order_duplicates_and_spaces() -> None:
    a = document_idempotency_key(["1.2.3.4", "1.2.3.5"])
    assert a == document_idempotency_key([" 1.2.3.5", "1.2.3.4", "1.2.3.4"])
    assert a != document_idempotency_key(["1.2.3.4"])
    assert a.startswith("documents:")
    with pytest.raises(ValueError):
        document_idempotency_key(["  "])


def test_client_keys_are_scoped_to_the_client() -> None:
    assert client_idempotency_key("dpi-a", "k1") == client_idempotency_key("dpi-a", "k1")
    assert client_idempotency_key("dpi-a", "k1") != client_idempotency_key("dpi-b", "k1")
    assert client_idempotency_key("dpi-a", "k1") != document_idempotency_key(["k1"])
    with pytest.raises(ValueError):
        client_idempotency_key("dpi-a", "")


def test_request_fingerprint_tells_bodies_apart() -> None:
    assert request_fingerprint(b"{}") == request_fingerprint(b"{}")
    assert request_fingerprint(b"{}") != request_fingerprint(b"{ }")


def test_patient_hash_is_keyed_and_never_contains_the_ins() -> None:
    ins, oid = "279035121518989", "1.2.250.1.213.1.4.10"
    value = patient_hash(ins, oid, SECRET)
    assert value == patient_hash(ins, oid, SECRET)  # stable: the audit is queryable by patient
    assert ins not in value and ins[:13] not in value
    assert value != patient_hash(ins, oid, b"another-secret-of-16+")  # keyed: no dictionary across installs
    assert value != patient_hash(ins, "1.2.250.1.213.1.4.8", SECRET)
    with pytest.raises(ValueError, match="16 bytes"):
        patient_hash(ins, oid, b"short")


def test_failure_round_trips_through_json() -> None:
    failure = Failure("xds-transient", "XDSRegistryBusy", {"xds_error_code": "XDSRegistryBusy"})
    assert Failure.from_json(failure.to_json()) == failure
    assert failure.with_details(dead_reason="horizon").details == {
        "xds_error_code": "XDSRegistryBusy",
        "dead_reason": "horizon",
    }


def test_failure_from_a_facade_error_keeps_every_issue_and_xds_code() -> None:
    error = DeliveryError(
        Problem.XDS_TRANSIENT,
        issues=[
            Issue(
                Problem.XDS_TRANSIENT,
                details={"error_code": "XDSRegistryBusy", "context": "busy"},
                codings=(("urn:ihe:iti:xds:2007:errorCode", "XDSRegistryBusy"),),
            )
        ],
    )
    failure = Failure.from_error(error)
    assert failure.code == "xds-transient"
    assert failure.message == str(error) and "busy" in failure.message
    assert failure.details["issues"][0]["codings"] == [["urn:ihe:iti:xds:2007:errorCode", "XDSRegistryBusy"]]
