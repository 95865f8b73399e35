"""End-to-end fixtures: one test PKI per session (keys generated at test time), a DMP simulator over real mutual TLS
per test (own state folder), and the real facade app (``create_app(demo_settings(...))``, lifespan included) driven
through Starlette's TestClient. The background relay is off: tests trigger retries themselves (``Facade.retry``),
so nothing happens behind their back."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from facade.app import create_app
from facade.cli import demo_settings
from facade.outbox.record import OutboxRecord, State
from facade.outbox.relay import RelayOutcome
from facade.pki import TestPki, init_test_pki
from facade.runtime import Runtime
from facade.settings import PROJECT_ROOT, FacilityConfig, Settings
from facade.simulator import SimulatorConfig, SimulatorServer

FACILITY = FacilityConfig()
STRUCTURE_ID = "1" + FACILITY.finess_ej  # the ORG certificates belong to the legal entity (OU = Struct_IdNat)
BUNDLES = PROJECT_ROOT / "conformance" / "bundles"
FHIR_JSON = {"Content-Type": "application/fhir+json"}

Configure = Callable[[Settings], None]
Prepare = Callable[[Runtime], None]


def bundle(name: str) -> bytes:
    return (BUNDLES / name).read_bytes()


@pytest.fixture(scope="session")
def e2e_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    # same shape as `facade demo`: CA, ORG AUTH_CLI + ORG SIGN of the legal entity, simulator server certificate
    return init_test_pki(
        tmp_path_factory.mktemp("e2e-pki"), structure_id=STRUCTURE_ID, org_name=FACILITY.site_name.upper()
    )


@pytest.fixture()
def simulator(e2e_pki: TestPki, tmp_path: Path) -> Iterator[SimulatorServer]:
    config = SimulatorConfig(structures={STRUCTURE_ID: frozenset({"1" + FACILITY.finess_eg})})
    with SimulatorServer(
        tmp_path / "simulator",
        ca_cert=e2e_pki.ca_cert,
        server_cert=e2e_pki.server_cert,
        server_key=e2e_pki.server_key,
        config=config,
    ) as sim:
        yield sim


@dataclass
class Facade:
    """A running facade (TestClient inside its lifespan) wired to the simulator."""

    client: TestClient
    runtime: Runtime
    simulator: SimulatorServer

    def post(self, body: bytes, *, path: str = "/fhir", headers: dict[str, str] | None = None) -> httpx.Response:
        response: httpx.Response = self.client.post(path, content=body, headers={**FHIR_JSON, **(headers or {})})
        return response

    def task(self, response: httpx.Response) -> dict[str, Any]:
        location = response.headers["content-location"]
        got = self.client.get(urlsplit(location).path)
        assert got.status_code == 200, got.text
        return cast(dict[str, Any], got.json())

    def record(self, response: httpx.Response) -> OutboxRecord:
        record = self.runtime.outbox.get(response.headers["content-location"].rsplit("/", 1)[1])
        assert record is not None
        return record

    def retry(self) -> list[RelayOutcome]:
        """One relay pass once every scheduled retry is due (a few ms with the tests' retry base)."""
        scheduled = self.runtime.outbox.list_by_state(State.FAILED)
        due = max((r.next_attempt_at for r in scheduled), default=None)
        if due is not None:
            wait = (due - datetime.now(UTC)).total_seconds()
            assert wait < 5, f"retry scheduled {wait:.1f} s ahead"
            time.sleep(max(wait, 0) + 0.01)
        return self.runtime.relay.run_once()

    def inbox(self) -> list[Path]:
        return sorted((self.simulator.simulator.state_dir / "inbox").glob("*.http"))


@pytest.fixture()
def start_facade(e2e_pki: TestPki, simulator: SimulatorServer, tmp_path: Path) -> Iterator[Callable[..., Facade]]:
    """``start_facade(configure=..., prepare=...)``: a facade with its own state folder (several may share the
    simulator). ``configure`` edits the Settings; ``prepare`` edits the Runtime before start-up."""
    numbers = itertools.count(1)
    with ExitStack() as stack:

        def start(*, configure: Configure | None = None, prepare: Prepare | None = None) -> Facade:
            settings = cast(Settings, demo_settings(tmp_path / f"facade-{next(numbers)}", simulator.url, e2e_pki))
            settings.outbox.relay = False
            settings.outbox.retry_base_seconds = 0.01  # a retry is due at once; the tests decide when it runs
            if configure is not None:
                configure(settings)
            runtime = Runtime(settings)
            if prepare is not None:
                prepare(runtime)
            client = stack.enter_context(TestClient(create_app(settings, runtime)))
            return Facade(client, runtime, simulator)

        yield start


@pytest.fixture()
def facade(start_facade: Callable[..., Facade]) -> Facade:
    return start_facade()


def outcome_codes(outcome: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (system, code) of every issue's details.coding."""
    return [(c["system"], c["code"]) for i in outcome["issue"] for c in i.get("details", {}).get("coding", [])]


def task_output(task: dict[str, Any]) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(task["output"][0]["valueString"]))
