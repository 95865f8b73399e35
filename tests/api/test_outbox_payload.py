"""What the outbox keeps of a submission, and who makes its first attempt (issue 12).

The payload holds the documents as raw bytes (no base64, no JSON copy); records written by an older version, whose
payload is base64 inside JSON, still deliver. The inline attempt is claimed in the enqueue transaction: a background
relay that runs right after the commit finds nothing to take. Real conversion, signing and SQLite store; the DMP is a
function returning real SOAP (tests/dmp_edge.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from facade.feeding import LEGACY_JSON_MEDIA_TYPE, PREPARED_MEDIA_TYPE, PreparedSubmission
from facade.outbox import AuditEvent, NewSubmission, Payload, State
from facade.outbox.record import EnqueueResult
from facade.runtime import Runtime
from facade.soap import mtom
from facade.submissions import Disposition
from tests.dmp_edge import registry_answer, sending_runtime

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = (ROOT / "conformance/bundles/ldl-ses/pdf-discharge-letter.json").read_bytes()


def prepared_of(runtime: Runtime, body: bytes = BUNDLE) -> PreparedSubmission:
    return runtime.feeder.prepare(runtime.converter.convert(body))


def legacy_json_payload(prepared: PreparedSubmission) -> Payload:
    """What versions before issue 12 wrote: every byte string base64 inside one JSON object."""
    body = {
        "submit_objects_request": base64.b64encode(prepared.submit_objects_request).decode("ascii"),
        "parts": [[pid, base64.b64encode(data).decode("ascii")] for pid, data in prepared.parts],
        "patient": prepared.patient_ins_cx,
        "subject": prepared.subject.to_json() if prepared.subject else None,
    }
    return Payload(LEGACY_JSON_MEDIA_TYPE, json.dumps(body, separators=(",", ":")).encode())


def test_the_payload_keeps_the_document_bytes_raw_and_reads_back_identical(tmp_path: Path, _pki) -> None:  # type: ignore[no-untyped-def]
    runtime, _ = sending_runtime(tmp_path / "state", _pki, registry_answer())
    prepared = prepared_of(runtime)
    payload = prepared.to_payload()
    assert payload.content_type == PREPARED_MEDIA_TYPE
    sections = [prepared.submit_objects_request, *(data for _, data in prepared.parts)]
    for data in sections:
        assert data in payload.body  # verbatim: never base64-encoded
        assert base64.b64encode(data[:60]) not in payload.body
    assert len(payload.body) - sum(map(len, sections)) < 1024  # one line of JSON naming the parts, no copies
    assert PreparedSubmission.from_payload(payload) == prepared


def test_the_parts_read_back_are_views_of_the_payload_and_send_the_same_bytes(tmp_path: Path, _pki) -> None:  # type: ignore[no-untyped-def]
    """A document read back is not copied out of the payload (its bytes would exist three times while it is sent),
    and the MTOM body built from the views is the one built from the bytes."""
    runtime, _ = sending_runtime(tmp_path / "state", _pki, registry_answer())
    prepared = prepared_of(runtime)
    payload = prepared.to_payload()
    back = PreparedSubmission.from_payload(payload)
    assert all(isinstance(data, memoryview) and data.obj is payload.body for _, data in back.parts)
    first = runtime.feeder.build_request(prepared, traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    again = runtime.feeder.build_request(back, traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    parts = [mtom.unpack(r.content_type, r.body)[1] for r in (first, again)]
    assert [p.data for p in parts[0].values()] == [p.data for p in parts[1].values()] == [d for _, d in prepared.parts]


def test_a_corrupt_payload_is_refused_not_misread(tmp_path: Path, _pki) -> None:  # type: ignore[no-untyped-def]
    runtime, _ = sending_runtime(tmp_path / "state", _pki, registry_answer())
    payload = prepared_of(runtime).to_payload()
    truncated = Payload(payload.content_type, payload.body[:-1])
    try:
        PreparedSubmission.from_payload(truncated)
    except Exception as exc:  # noqa: BLE001 - the kind matters less than never sending a truncated document
        assert "sizes" in str(exc)
    else:
        raise AssertionError("a truncated payload was read")


def test_a_record_stored_with_the_legacy_json_payload_still_delivers(tmp_path: Path, _pki) -> None:  # type: ignore[no-untyped-def]
    runtime, transport = sending_runtime(tmp_path / "state", _pki, registry_answer())
    prepared = prepared_of(runtime)
    stored = runtime.outbox.enqueue(
        NewSubmission(
            idempotency_key="legacy-1",
            fingerprint="sha256:legacy",
            payload=legacy_json_payload(prepared),
            document_unique_ids=("1.2.3.4.legacy",),
            patient_hash="h",
            actor="dpi-a",
        )
    )
    (outcome,) = runtime.new_relay("test").run_once()
    assert outcome.record is not None and outcome.record.state is State.DELIVERED
    assert outcome.record.id == stored.record.id
    (request,) = transport.requests
    _, parts = mtom.unpack(request.content_type, request.body)
    assert sorted(part.data for part in parts.values()) == sorted(data for _, data in prepared.parts)


def test_a_submission_is_stored_in_the_new_form(tmp_path: Path, _pki) -> None:  # type: ignore[no-untyped-def]
    runtime, _ = sending_runtime(tmp_path / "state", _pki, registry_answer())
    result = runtime.submissions().submit(BUNDLE, actor="dpi-a", respond_async=True)
    record = runtime.outbox.get(result.record.id)
    assert record is not None and record.payload.content_type == PREPARED_MEDIA_TYPE
    assert b"<ClinicalDocument" in record.payload.body


def test_a_background_relay_running_right_after_the_commit_cannot_take_the_inline_attempt(
    tmp_path: Path,
    _pki,  # type: ignore[no-untyped-def]
) -> None:
    runtime, transport = sending_runtime(tmp_path / "state", _pki, registry_answer())
    background = runtime.new_relay("background")
    taken: list[object] = []
    enqueue = runtime.outbox.enqueue

    def enqueue_then_race(new: NewSubmission) -> EnqueueResult:
        result = enqueue(new)
        taken.extend(background.run_once())  # a worker polling at the worst moment: between commit and attempt
        return result

    runtime.outbox.enqueue = enqueue_then_race  # type: ignore[method-assign]
    result = runtime.submissions().submit(BUNDLE, actor="dpi-a")
    assert taken == []
    assert result.disposition is Disposition.DELIVERED and result.record.attempts == 1
    assert len(transport.requests) == 1
    attempts = [e for e in runtime.outbox.audit_for_submission(result.record.id) if e.event == AuditEvent.ATTEMPT]
    assert [e.detail["owner"] for e in attempts] == [runtime.relay.owner]


def test_an_inline_claim_is_a_lease_like_any_other(tmp_path: Path, _pki) -> None:  # type: ignore[no-untyped-def]
    """Born sending, attempt 1, leased to the inline relay: other relays skip it until the lease is released."""
    runtime, _ = sending_runtime(tmp_path / "state", _pki, registry_answer())
    prepared = prepared_of(runtime)
    new = NewSubmission(
        idempotency_key="inline-1",
        fingerprint="sha256:inline",
        payload=prepared.to_payload(),
        document_unique_ids=("1.2.3.4.inline",),
        patient_hash="h",
        actor="dpi-a",
        lease=runtime.relay.inline_lease(),
    )
    record = runtime.outbox.enqueue(new).record
    assert (record.state, record.attempts, record.lease_owner) == (State.SENDING, 1, runtime.relay.owner)
    assert runtime.new_relay("other").run_once() == []
    assert runtime.outbox.recover_expired(record.created_at, dead_owner=lambda owner: owner == runtime.relay.owner)
    (outcome,) = runtime.new_relay("other").run_once()
    assert outcome.record is not None and outcome.record.state is State.DELIVERED and outcome.record.ambiguous
