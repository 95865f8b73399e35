"""`facade demo` (the real command, its own process: simulator over mutual TLS, signed VIHF per call) in its AIR mode:
post the example, mask it, archive and unarchive it, delete it — what a vendor sees (issue 11 "done when")."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from facade.settings import PACKAGE_DIR

EXAMPLE = PACKAGE_DIR / "examples" / "ldl-ses" / "pdf-discharge-letter.json"
A07 = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
IS_ARCHIVED = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"


def _banner(log: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 120  # a wait, not an assertion on speed
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        match = re.search(r"facade: (http://127\.0\.0\.1:\d+)/fhir", text)
        if match:
            assert "INDIRECTE_RENFORCEE" in text  # the banner says which mode the demo runs in
            return match.group(1)
        assert process.poll() is None, f"facade demo exited {process.returncode}:\n{text}"
        time.sleep(0.2)
    raise AssertionError(f"no banner:\n{log.read_text()}")


def _patch(base: str, unique_id: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
    response = httpx.patch(
        f"{base}/fhir/DocumentReference",
        params={"identifier": f"urn:ietf:rfc:3986|urn:oid:{unique_id}"},
        content=json.dumps(ops).encode(),
        headers={"Content-Type": "application/json-patch+json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_demo_masks_archives_and_deletes(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "facade", "demo", "--port", "0", "--state", str(tmp_path / "state")],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = _banner(log, process)
        deadline = time.monotonic() + 60
        while True:
            try:
                posted = httpx.post(f"{base}/fhir", content=EXAMPLE.read_bytes(),
                                    headers={"Content-Type": "application/fhir+json"}, timeout=60)  # fmt: skip
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert posted.status_code == 200, posted.text
        unique_id = json.loads(EXAMPLE.read_text(encoding="utf-8-sig"))["entry"][1]["resource"]["masterIdentifier"]
        unique_id = unique_id["value"].removeprefix("urn:oid:")

        masked = _patch(base, unique_id, [{"op": "add", "path": "/securityLabel/-",
                                          "value": {"coding": [{"system": A07, "code": "MASQUE_PS"}]}}])  # fmt: skip
        assert [c["code"] for s in masked["securityLabel"] for c in s["coding"]] == ["N", "MASQUE_PS"]
        flag = f"/extension[url:'{IS_ARCHIVED}']/valueBoolean"
        assert _patch(base, unique_id, [{"op": "replace", "path": flag, "value": True}])["extension"][0]["valueBoolean"]
        assert not _patch(base, unique_id, [{"op": "replace", "path": flag, "value": False}])["extension"][0][
            "valueBoolean"
        ]
        deleted = _patch(base, unique_id, [{"op": "replace", "path": "/status", "value": "entered-in-error"}])
        assert deleted["status"] == "entered-in-error"
        inbox = sorted((tmp_path / "state" / "inbox").glob("*.http"))
        updates = [p for p in inbox if b"urn:ihe:iti:2010:UpdateDocumentSet" in p.read_bytes()]
        assert len(updates) == 4 and all(b"INDIRECTE_RENFORCEE" in p.read_bytes() for p in updates)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert "Traceback" not in log.read_text()
