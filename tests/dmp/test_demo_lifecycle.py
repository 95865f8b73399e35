"""Issue 11's "done when" as one scenario against the real `facade demo` process (its own simulator over mutual TLS,
a signed VIHF per call, AIR mode), driven with the curl commands its banner prints: post two documents, search them
by INS, mask one, archive and unarchive it, delete the other, search again, read one through its attachment.url
(TD3.2), TD0.2 on the known, an unknown and the closed patient; then the simulator's inbox, read over its admin API:
each ITI-18, ITI-57, ITI-43 and TD0.2 body passes the kit's XSDs and has the official samples' shapes."""

from __future__ import annotations

import base64
import hashlib
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from facade.pki import TestPki
from tests.dmp import demo_inbox as inbox
from tests.infocentre.load import LETTER, body, copy_of

A07 = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
IS_ARCHIVED = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"
OTHER_UID = "1.2.250.1.999.1.1.77.1"  # the second document: the example with fresh identifiers, same patient


def _banner(log: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 120  # a wait, not an assertion on speed
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "FACADE_VIHF__AUTH_MODE" in text:  # the banner's last line
            assert "INDIRECTE_RENFORCEE" in text  # the banner says which mode the demo runs in
            return text
        assert process.poll() is None, f"facade demo exited {process.returncode}:\n{text}"
        time.sleep(0.2)
    raise AssertionError(f"no banner:\n{log.read_text()}")


def _first(commands: list[list[str]], pattern: str, *, nth: int = 0) -> list[str]:
    found = [c for c in commands if re.search(pattern, " ".join(c))]
    assert len(found) > nth, (pattern, commands)
    return found[nth]


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


def _by_uid(searchset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        e["resource"]["masterIdentifier"]["value"].removeprefix("urn:oid:"): e["resource"] for e in searchset["entry"]
    }


def _labels(resource: dict[str, Any]) -> list[str]:
    return [c["code"] for label in resource["securityLabel"] for c in label["coding"]]


def _archived(resource: dict[str, Any]) -> bool:
    return bool(next(e["valueBoolean"] for e in resource["extension"] if e["url"] == IS_ARCHIVED))


def _post_when_served(command: list[str]) -> httpx.Response:
    deadline = time.monotonic() + 60  # the banner is printed just before uvicorn serves: a wait, not an assertion
    while True:
        try:
            return inbox.run_curl(command)
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_the_demo_search_mask_archive_delete_read_and_td02_with_the_bodies_the_dmp_received(
    tmp_path: Path, kit_path: Path, kit_validator: Any
) -> None:
    log, state = tmp_path / "demo.log", tmp_path / "state"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "facade", "demo", "--port", "0", "--state", str(state)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        banner = _banner(log, process)
        commands = inbox.curl_commands(banner)
        simulator = re.search(r"DMP simulator \(mutual TLS[^)]*\): (https://[^/\s]+)", banner)  # scheme + host
        assert simulator is not None
        _scenario(commands, tmp_path)
        _inbox(TestPki.at(state / "pki"), simulator.group(1), kit_path, kit_validator)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0 and "Traceback" not in log.read_text()


def _scenario(commands: list[list[str]], tmp_path: Path) -> None:
    # post two documents: the banner's example, and a copy of it with fresh identifiers (same patient)
    post = _first(commands, r"-X POST \S+/fhir -H")
    assert _post_when_served(post).status_code == 200
    other = tmp_path / "other.json"
    other.write_bytes(body(copy_of(LETTER, 1)))
    assert inbox.run_curl([*post[:-1], f"@{other}"]).status_code == 200

    search = _first(commands, r"/DocumentReference\?patient\.identifier=.*&status=current")
    found = _ok(inbox.run_curl(search))
    assert found["type"] == "searchset" and found["total"] == 2
    docs = _by_uid(found)
    (uid,) = set(docs) - {OTHER_UID}  # the example's: the uniqueId the banner's PATCH and Binary commands name
    assert [(d["status"], d["meta"]["versionId"], _archived(d), _labels(d)) for d in docs.values()] == [
        ("current", "1", False, ["N"])
    ] * 2

    masked = _ok(inbox.run_curl(_first(commands, "MASQUE_PS")))
    assert _labels(masked) == ["N", "MASQUE_PS"] and masked["meta"]["versionId"] == "2"
    assert _archived(_ok(inbox.run_curl(_first(commands, '"value":true'))))
    assert not _archived(_ok(inbox.run_curl(_first(commands, '"value":false'))))
    delete = [arg.replace(uid, OTHER_UID) for arg in _first(commands, "entered-in-error")]
    assert _ok(inbox.run_curl(delete))["status"] == "entered-in-error"

    current = _ok(inbox.run_curl(search))
    assert current["total"] == 1 and set(_by_uid(current)) == {uid}  # the deleted one is no longer current
    both = _ok(inbox.run_curl([a.replace("status=current", "status=current,entered-in-error") for a in search]))
    after = _by_uid(both)
    assert (after[uid]["status"], _labels(after[uid]), _archived(after[uid])) == ("current", ["N", "MASQUE_PS"], False)
    assert after[OTHER_UID]["status"] == "entered-in-error"

    # TD3.2 through the attachment.url the search answered: the banner's Binary command names the same URL
    attachment = after[uid]["content"][0]["attachment"]
    assert attachment["url"] == _first(commands, "/Binary/")[-1]
    read = httpx.get(attachment["url"], timeout=60)
    assert read.status_code == 200 and len(read.content) == attachment["size"]
    assert base64.b64decode(attachment["hash"]) == hashlib.sha1(read.content).digest()  # noqa: S324 (XDS hash)

    # TD0.2: the example's patient (known, open), no DMP (unknown to the DMP), the closed DMP
    td02 = [_ok(inbox.run_curl(c)) for c in commands if "/Patient?identifier=" in " ".join(c)]
    patients = [[e["resource"] for e in a.get("entry", []) if e["resource"]["resourceType"] == "Patient"] for a in td02]
    assert [(a["total"], [p["active"] for p in found]) for a, found in zip(td02, patients, strict=True)] == [
        (1, [True]), (1, [False]), (0, []),
    ]  # fmt: skip


def _inbox(pki: TestPki, simulator_url: str, kit: Path, kit_validator: Any) -> None:
    got = inbox.received(pki, simulator_url)
    assert set(got) == {inbox.ITI41, inbox.ITI18, inbox.ITI57, inbox.ITI43, inbox.TD02}, sorted(got)
    assert len(got[inbox.ITI41]) == 2
    for action in (inbox.ITI18, inbox.ITI57, inbox.ITI43, inbox.TD02):
        for request in got[action]:
            inbox.check_common(request, kit_validator, pki.ca_cert)

    queries = inbox.check_iti18(got[inbox.ITI18], kit)
    finds = [dict(slots)["$XDSDocumentEntryStatus"] for qid, slots in queries if qid == inbox.FIND_DOCUMENTS]
    current = f"('{inbox.APPROVED}','{inbox.ARCHIVED}')"
    assert finds == [[current], [current], [f"('{inbox.APPROVED}','{inbox.ARCHIVED}','{inbox.DELETED}')"]]

    updates = inbox.check_iti57(got[inbox.ITI57], kit)
    assert [kind.rsplit(":", 1)[1] for kind, _ in updates] == ["HasMember"] + ["UpdateAvailabilityStatus"] * 3
    assert [dict(slots) for _, slots in updates[1:]] == [
        {"OriginalStatus": [inbox.APPROVED], "NewStatus": [inbox.ARCHIVED]},
        {"OriginalStatus": [inbox.ARCHIVED], "NewStatus": [inbox.APPROVED]},
        {"OriginalStatus": [inbox.APPROVED], "NewStatus": [inbox.DELETED]},
    ]
    (uid,) = inbox.check_iti43(got[inbox.ITI43], kit)
    assert len(got[inbox.TD02]) == 3
    inbox.check_td02(got[inbox.TD02], kit)

    # the simulator's registry: each document's current status and version (after the ITI-57 updates)
    listed = {
        d["unique_id"]: (d["status"], d["version"])
        for d in inbox.documents(pki, simulator_url)
        if not d["is_signature"]
    }
    assert listed == {uid: (inbox.APPROVED, 2), OTHER_UID: (inbox.DELETED, 1)}
