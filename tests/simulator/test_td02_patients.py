"""The simulator's scripted patients for TD0.2: configured, posted over the admin API (validated, all or nothing),
persisted across a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from facade.pki import TestPki
from facade.simulator import SimulatorConfig, create_simulator_app
from facade.simulator.td02 import PatientBook, PatientBookError, PatientState

INS = "248039263001064"


def test_the_admin_api_scripts_patients_and_refuses_bad_states(pki: TestPki, tmp_path: Path) -> None:
    app = create_simulator_app(tmp_path / "state", ca_cert=pki.ca_cert)
    with TestClient(app, base_url="https://dmp.test") as client:
        ok = client.post("/_simulator/patients", json={INS: {"dmp": "closed", "treating_physician": True}})
        bad_state = client.post("/_simulator/patients", json={"1": "half-open"})
        bad_field = client.post("/_simulator/patients", json={"1": {"dmpp": "open"}})
        listing = client.get("/_simulator/patients").json()
    assert ok.status_code == 200 and ok.json()[INS]["dmp"] == "closed"
    assert bad_state.status_code == 400 and "dmp must be one of" in bad_state.json()["error"]
    assert bad_field.status_code == 400 and "dmpp" in bad_field.json()["error"]
    assert list(listing) == [INS] and listing[INS]["treating_physician"] is True


def test_patients_survive_a_restart_and_configured_ones_win(tmp_path: Path) -> None:
    path = tmp_path / "patients.json"
    PatientBook(path).update_from_json({INS: "none", "2": "closed"})
    again = PatientBook(path, {"2": {"dmp": "open"}})
    assert again.get(INS) == PatientState(dmp="none")
    assert again.get("2") == PatientState(dmp="open")
    assert again.get("3") is None


@pytest.mark.parametrize(
    "value", [3, ["open"], {"dmp": "open", "attached_to_mes": "yes"}, {"closed_on": 2024}, {"authorization": 1}]
)
def test_malformed_states_are_refused(value: object) -> None:
    with pytest.raises(PatientBookError):
        PatientState.parse(value)


def test_the_config_seeds_the_book(pki: TestPki, tmp_path: Path) -> None:
    app = create_simulator_app(tmp_path / "s", ca_cert=pki.ca_cert, config=SimulatorConfig(patients={INS: "closed"}))
    state = app.simulator.patients.get(INS)
    assert state is not None and state.dmp == "closed"
