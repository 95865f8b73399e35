"""A full run through the real app at DEBUG, through the production log handler: the logs name no patient (INS,
family or given names, birth date) although accepted, refused and failed-to-send submissions all went through."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from facade.app import create_app
from facade.cli import demo_settings
from facade.pki import init_test_pki
from facade.settings import PROJECT_ROOT, FacilityConfig, Settings

BUNDLE = PROJECT_ROOT / "conformance" / "bundles" / "cr" / "text-plain-report.json"
HEADERS = {"content-type": "application/fhir+json"}


def _patient_facts(doc: dict[str, Any]) -> set[str]:
    facts: set[str] = set()
    for entry in doc["entry"]:
        res = entry["resource"]
        if res["resourceType"] != "Patient":
            continue
        facts |= {i["value"] for i in res.get("identifier", [])}
        for name in res.get("name", []):
            facts |= {name.get("family", ""), *name.get("given", [])}
        facts.add(res.get("birthDate", ""))
    return {f for f in facts if len(f) >= 3}


def test_a_full_run_logs_no_patient_data(tmp_path: Path, captured_logs: Callable[[], list[dict[str, Any]]]) -> None:
    raw = BUNDLE.read_text(encoding="utf-8")
    doc = json.loads(raw)
    facts = _patient_facts(doc)
    assert len(facts) >= 3  # an INS, a family name, a given name at least

    pki = init_test_pki(tmp_path / "pki", structure_id="1" + FacilityConfig().finess_ej)
    settings = demo_settings(tmp_path / "state", "https://127.0.0.1:9/si-dmp-server/v2/services/repository", pki)
    assert isinstance(settings, Settings)
    settings.outbox.relay = False
    broken = copy.deepcopy(doc)
    for entry in broken["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            ident = entry["resource"]["identifier"][0]
            ident["value"] = ident["value"][:-2] + ("00" if ident["value"][-2:] != "00" else "01")  # wrong INS key
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        statuses = [
            client.post("/fhir/Bundle/$preview", content=raw.encode(), headers=HEADERS).status_code,
            client.post("/fhir", content=raw.encode(), headers=HEADERS).status_code,  # inline send fails: queued
            client.post("/fhir", content=json.dumps(broken).encode(), headers=HEADERS).status_code,
            client.post("/fhir", content=b'{"resourceType": "Bundle", "type": 1}', headers=HEADERS).status_code,
        ]
    assert statuses[0] == 200 and statuses[1] == 202 and statuses[2] == 422 and statuses[3] == 400, statuses
    lines = captured_logs()
    assert any(line["logger"] == "facade.access" for line in lines)
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    leaked = sorted(f for f in facts if f in text)
    assert not leaked, f"patient data in the logs: {leaked}"
