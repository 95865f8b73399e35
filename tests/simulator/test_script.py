"""Scripted behaviours: the queue/default model, its persistence, the admin endpoint, and each behaviour as a client
sees it over mutual TLS."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from facade.pki import TestPki
from facade.simulator import Behaviour, Script, ScriptError, SimulatorServer, Step

from .builders import RequestFactory
from .test_iti41 import codes, send

# --- the model ---


def test_queue_is_consumed_then_the_default_applies(tmp_path: Path) -> None:
    script = Script(tmp_path / "script.json")
    script.set(["busy", "slow:0.5", {"behaviour": "drop"}], default="metadata-error")
    steps = [script.next_step() for _ in range(5)]
    assert steps == [
        Step(Behaviour.BUSY),
        Step(Behaviour.SLOW, 0.5),
        Step(Behaviour.DROP),
        Step(Behaviour.METADATA_ERROR),
        Step(Behaviour.METADATA_ERROR),
    ]


def test_script_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    first = Script(path)
    first.set(["busy", "busy", "ok"], unknown_ins=["279035121518989"])
    first.next_step()
    again = Script(path, unknown_ins=["207058575627097"])
    assert again.state.queue == (Step(Behaviour.BUSY), Step(Behaviour.OK))
    assert again.is_unknown("279035121518989") and again.is_unknown("207058575627097")


@pytest.mark.parametrize(
    "bad",
    ["sleepy", "busy:3", "slow:abc", "slow:-1", {"behaviour": "slow", "seconds": 1, "extra": 1}, 42],
)
def test_malformed_steps_are_refused_and_change_nothing(tmp_path: Path, bad: object) -> None:
    script = Script(tmp_path / "script.json")
    script.set(["busy"])
    with pytest.raises(ScriptError):
        script.set(["ok", bad])  # type: ignore[list-item]
    assert script.state.queue == (Step(Behaviour.BUSY),)


def test_admin_endpoint_sets_and_shows_the_script(server: SimulatorServer, client: httpx.Client) -> None:
    url = server.base_url + "/_simulator/script"
    r = client.post(url, content=json.dumps({"queue": ["busy", "slow:2"], "default": "ok", "unknown_ins": ["1"]}))
    assert r.status_code == 200
    assert client.get(url).json() == {
        "queue": ["busy", {"behaviour": "slow", "seconds": 2.0}],
        "default": "ok",
        "unknown_ins": ["1"],
    }
    assert client.post(url, content=b'["nope"]').status_code == 400
    assert client.post(url, content=b"not json").status_code == 400
    assert server.script.state.queue == (Step(Behaviour.BUSY), Step(Behaviour.SLOW, 2.0))
    assert (server.simulator.state_dir / "script.json").is_file()


# --- each behaviour, over TLS ---


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [
        ("busy", "XDSRegistryBusy"),
        ("repository-busy", "XDSRepositoryBusy"),
        ("metadata-error", "XDSRegistryMetadataError"),
        ("unknown-patient", "XDSUnknownPatientId"),
    ],
)
def test_registry_error_behaviours(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory, behaviour: str, code: str
) -> None:
    server.script.set([behaviour])
    request = factory.request()
    status, response = send(client, server, request)
    assert status == 200
    assert response.relates_to == request.message_id
    assert codes(response) == [code]
    assert server.simulator.registry.documents() == []
    # the queue is consumed: the same request now goes through
    status, response = send(client, server, request)
    assert response.registry_response is not None and response.registry_response.is_success


def test_busy_twice_then_ok(server: SimulatorServer, client: httpx.Client, factory: RequestFactory) -> None:
    server.script.set(["busy", "busy", "ok"])
    request = factory.request()
    results = [codes(send(client, server, request)[1]) for _ in range(3)]
    assert results == [["XDSRegistryBusy"], ["XDSRegistryBusy"], []]


def test_soap_fault_behaviour(server: SimulatorServer, client: httpx.Client, factory: RequestFactory) -> None:
    server.script.set(["soap-fault"])
    request = factory.request()
    status, response = send(client, server, request)
    assert status == 500
    assert response.fault is not None and response.fault.code == "Receiver"
    assert response.relates_to == request.message_id


def test_drop_closes_the_connection_without_an_answer(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    server.script.set(["drop"])
    request = factory.request()
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(server.url, content=request.body, headers={"content-type": request.content_type})
    # the request was read and kept before the connection was cut
    assert [e.number for e in server.simulator.inbox.entries()] == [1]
    assert server.simulator.inbox.read(1).endswith(request.body)  # type: ignore[union-attr]
    status, response = send(client, server, request)
    assert response.registry_response is not None and response.registry_response.is_success


def test_slow_answers_later_and_then_processes_normally(
    server: SimulatorServer, pki: TestPki, factory: RequestFactory
) -> None:
    from .conftest import client_context

    server.script.set(["slow:2", "slow:0"])
    request = factory.request()
    ctx = client_context(pki, pki.auth_cert, pki.auth_key)
    with httpx.Client(verify=ctx, timeout=httpx.Timeout(10.0, read=0.3)) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.post(server.url, content=request.body, headers={"content-type": request.content_type})
    with httpx.Client(verify=ctx, timeout=10.0) as patient:
        status, response = send(patient, server, factory.request())
    assert response.registry_response is not None and response.registry_response.is_success
