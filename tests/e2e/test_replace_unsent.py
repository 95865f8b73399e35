"""Replacing a document this facade never sent (another facade, another DPI sent it): the RPLC target's entryUUID
comes from the DMP (ITI-18 GetDocuments by uniqueId, TD3.1b, open to a structure certificate), not from the local
registry; a uniqueId the DMP does not hold for this patient is refused before any ITI-41."""

from __future__ import annotations

import json
from typing import Any

from facade import xmldoc

from .conftest import bundle

ORIGINAL_UID = "1.2.250.1.999.1.1.100.1"  # the discharge letter replacement/rplc.json replaces
ITI18 = b"urn:ihe:iti:2007:RegistryStoredQuery"
ITI41 = b"urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"


def _rplc_naming_only(unique_id: str) -> bytes:
    """rplc.json whose relatesTo names the replaced document by its uniqueId only (no DocumentReference/<id>)."""
    raw = json.loads(bundle("replacement/rplc.json"))
    for entry in raw["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "DocumentReference":
            resource["relatesTo"] = [
                {
                    "code": "replaces",
                    "target": {"identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{unique_id}"}},
                }
            ]
    return json.dumps(raw).encode()


def _actions(facade: Any) -> list[bytes]:
    out = []
    for path in facade.inbox():
        body = path.read_bytes().partition(b"\r\n\r\n")[2]
        out.append(ITI18 if ITI18 in body else ITI41 if ITI41 in body else b"?")
    return out


def test_the_replaced_entry_uuid_comes_from_the_dmp(start_facade: Any) -> None:
    sender = start_facade()
    assert sender.post(bundle("ldl-ses/pdf-discharge-letter.json")).status_code == 200
    registry = sender.simulator.simulator.registry
    original = registry.by_unique_id(ORIGINAL_UID)
    assert original is not None
    other = start_facade()  # its own state: it never sent the original
    assert other.runtime.outbox.find_document(unique_id=ORIGINAL_UID) is None

    response = other.post(_rplc_naming_only(ORIGINAL_UID))

    assert response.status_code == 200, response.text
    replaced = registry.by_unique_id(ORIGINAL_UID)
    assert replaced is not None and replaced.status.endswith("Deprecated")
    new = [d for d in registry.documents() if d.replaces]
    assert [d.replaces for d in new] == [original.entry_uuid]
    assert _actions(other)[-2:] == [ITI18, ITI41]
    query = xmldoc.parse(other.inbox()[-2].read_bytes().partition(b"\r\n\r\n")[2])
    values = [v.text for v in query.iter("{*}Value")]
    assert values == [f"('{ORIGINAL_UID}')"]


def test_a_unique_id_the_dmp_does_not_hold_is_refused_before_sending(start_facade: Any) -> None:
    facade = start_facade()
    assert facade.post(bundle("ldl-ses/pdf-discharge-letter.json")).status_code == 200
    other = start_facade()
    before = len(other.inbox())

    response = other.post(_rplc_naming_only("1.2.250.1.999.1.1.404"))

    assert response.status_code == 422, response.text
    assert "entryUUID" in response.text
    assert _actions(other)[before:] == [ITI18]  # asked the DMP, sent nothing
