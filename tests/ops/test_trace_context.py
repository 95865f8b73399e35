"""W3C trace context end to end: the request's ``traceparent`` -> every log line of the request -> the Task -> the
AuditEvents -> the ``traceparent`` header of the ITI-41 request the simulator wrote to its inbox (a child span: same
trace id, a new span id), also when a relay delivers later with no request in progress. A malformed header starts a
new trace."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facade.logs import configure_logging
from facade.logs.trace import new_span_id, parse_traceparent
from tests.e2e.conftest import Facade, bundle
from tests.front_door.conftest import restore_logging  # noqa: F401  (fixture)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
BALP = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"


@pytest.fixture
def log_lines(restore_logging: None) -> Iterator[io.StringIO]:  # noqa: F811
    buffer = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=buffer)
    yield buffer


def _records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def _inbox_traceparent(path: Path) -> str:
    head = path.read_bytes().split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    values = [line.split(":", 1)[1].strip() for line in head[1:] if line.lower().startswith("traceparent:")]
    assert len(values) == 1, head
    return values[0]


def _audit_traceparents(facade: Facade, submission_id: str) -> list[str]:
    bundle_ = facade.client.get("/fhir/AuditEvent", params={"entity": submission_id}).json()
    events = [e["resource"] for e in bundle_["entry"]]
    assert events
    found = []
    for event in events:
        traced = [e for e in event["entity"] if e.get("type") == {"system": BALP, "code": "Traceparent"}]
        assert len(traced) == 1, event  # every entry of the submission carries it
        found.append(traced[0]["what"]["identifier"]["value"])
    return found


def _task_traceparent(task: dict[str, Any]) -> str:
    (value,) = [i["valueString"] for i in task["input"] if i["type"].get("text") == "traceparent"]
    return str(value)


def test_a_traceparent_travels_from_the_request_to_the_dmp(facade: Facade, log_lines: io.StringIO) -> None:
    incoming = f"00-{TRACE}-{CALLER_SPAN}-01"
    response = facade.post(bundle("ldl-ses/pdf-discharge-letter.json"), headers={"traceparent": incoming})
    assert response.status_code == 200, response.text

    ours = parse_traceparent(response.headers["traceresponse"])  # this request's span, told to the caller
    assert ours is not None and ours.trace_id == TRACE and ours.span_id != CALLER_SPAN and ours.flags == "01"
    request_id = response.headers["x-request-id"]
    lines = [r for r in _records(log_lines) if r.get("request_id") == request_id]
    assert len(lines) >= 2 and {r["logger"] for r in lines} >= {"facade.access", "facade.outbox.relay"}
    assert all(r.get("trace_id") == TRACE for r in lines), lines

    task = facade.task(response)
    assert _task_traceparent(task) == ours.traceparent
    assert set(_audit_traceparents(facade, task["id"])) == {ours.traceparent}

    (sent,) = facade.inbox()
    outbound = parse_traceparent(_inbox_traceparent(sent))
    assert outbound is not None and outbound.trace_id == TRACE and outbound.flags == "01"
    assert outbound.span_id not in (CALLER_SPAN, ours.span_id)  # a child span of ours


def test_a_relay_delivering_later_sends_the_same_trace(facade: Facade, log_lines: io.StringIO) -> None:
    trace = "0af7651916cd43dd8448eb211c80319c"
    headers = {"traceparent": f"00-{trace}-{new_span_id()}-00", "prefer": "respond-async"}
    response = facade.post(bundle("ldl-ses/pdf-discharge-letter.json"), headers=headers)
    assert response.status_code == 202, response.text
    assert facade.inbox() == []  # queued, nothing sent yet

    # the relay runs here, outside any request (as the background threads do)
    assert [o.outcome.value for o in facade.runtime.relay.run_once()] == ["delivered"]
    (sent,) = facade.inbox()
    outbound = parse_traceparent(_inbox_traceparent(sent))
    assert outbound is not None and outbound.trace_id == trace and outbound.flags == "00"
    delivered = [r for r in _records(log_lines) if r["logger"] == "facade.outbox.relay" and "delivered" in r["msg"]]
    assert [r.get("trace_id") for r in delivered] == [trace]
    assert delivered[0]["request_id"] == response.headers["x-request-id"]  # the submission's own request id

    task = facade.task(response)
    assert parse_traceparent(_task_traceparent(task)).trace_id == trace  # type: ignore[union-attr]
    assert {parse_traceparent(t).trace_id for t in _audit_traceparents(facade, task["id"])} == {trace}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "header",
    [
        f"00-{TRACE.upper()}-{CALLER_SPAN}-01",  # upper case
        f"00-{'0' * 32}-{CALLER_SPAN}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"ff-{TRACE}-{CALLER_SPAN}-01",  # forbidden version
        f"00-{TRACE}-{CALLER_SPAN}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE}-{CALLER_SPAN}",
        "\u00e9t\u00e9",
    ],
)
def test_a_malformed_traceparent_is_replaced_by_a_new_trace(facade: Facade, header: str) -> None:
    response = facade.client.get("/health/live", headers={"traceparent": header.encode("utf-8")})
    ours = parse_traceparent(response.headers["traceresponse"])
    assert ours is not None and ours.trace_id != TRACE and ours.flags == "00"


def test_two_traceparent_headers_are_not_trusted(facade: Facade) -> None:
    first, second = f"00-{TRACE}-{CALLER_SPAN}-01", f"00-{TRACE}-{new_span_id()}-01"
    response = facade.client.get("/health/live", headers=[("traceparent", first), ("traceparent", second)])
    ours = parse_traceparent(response.headers["traceresponse"])
    assert ours is not None and ours.trace_id != TRACE


def test_a_later_version_is_read_by_its_version_00_fields(facade: Facade) -> None:
    response = facade.client.get("/health/live", headers={"traceparent": f"01-{TRACE}-{CALLER_SPAN}-01-more"})
    ours = parse_traceparent(response.headers["traceresponse"])
    assert ours is not None and ours.trace_id == TRACE


def test_no_traceparent_starts_a_trace_and_the_text_format_shows_it(
    facade: Facade,
    restore_logging: None,  # noqa: F811
) -> None:
    buffer = io.StringIO()
    configure_logging(level="INFO", fmt="text", stream=buffer)
    response = facade.client.get("/health/live")
    ours = parse_traceparent(response.headers["traceresponse"])
    assert ours is not None
    logging.getLogger("facade.test").info("outside any request")
    text = buffer.getvalue()
    assert f"[{response.headers['x-request-id']}] [{ours.trace_id}] GET /health/live 200" in text
    assert "[-] outside any request" in text
