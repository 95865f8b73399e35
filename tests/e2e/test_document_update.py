"""TD3.3a-d end to end (real mutual TLS, a signed VIHF per call verified by the simulator): the PDSm PATCH on a
DocumentReference becomes GetDocuments + ITI-57 UpdateDocumentSet; the simulator applies it to its registry; the
answer is the document as the DMP now holds it and the facade's registry follows. The ITI-57 bodies the simulator
received pass the kit's lcm.xsd and carry the official TD3.3d shapes (WS-A Action, association type, slots, URNs)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from facade import xmldoc
from facade.cda.validation import XmlSchema, kit_schema
from facade.dmp.patch import IS_ARCHIVED
from facade.settings import Settings
from facade.simulator.config import DEFAULT_RIGHTS, REGISTRY_PATH
from facade.simulator.registry import APPROVED
from tests.e2e.conftest import Facade, bundle, outcome_codes

INS = "urn:oid:1.2.250.1.213.1.4.10|185076912345673"
A07 = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"
RIM = {"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
PROBLEM = "https://github.com/dmp-facade/dmp-facade/problem"
MASK = [{"op": "add", "path": "/securityLabel/-", "value": {"coding": [{"system": A07, "code": "MASQUE_PS"}]}}]
ARCHIVE = [{"op": "replace", "path": f"/extension[url:'{IS_ARCHIVED}']/valueBoolean", "value": True}]
UNARCHIVE = [{"op": "replace", "path": f"/extension[url:'{IS_ARCHIVED}']/valueBoolean", "value": False}]
UID = "1.2.250.1.999.1.1.300"
DELETE = [{"op": "replace", "path": "/status", "value": "entered-in-error"}]


def letter(unique_id: str) -> bytes:
    request: dict[str, Any] = json.loads(bundle("ldl-ses/pdf-discharge-letter.json"))
    for entry in request["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "DocumentReference":
            resource["masterIdentifier"]["value"] = f"urn:oid:{unique_id}"
            del resource["identifier"]
        elif resource["resourceType"] == "List":
            resource["identifier"] = [i for i in resource["identifier"] if i.get("use") != "official"]
            resource["identifier"][0]["value"] = f"urn:oid:{unique_id}.1"
    return json.dumps(request).encode()


def post(facade: Facade, unique_id: str) -> str:
    response = facade.post(letter(unique_id))
    assert response.status_code == 200, response.text
    locations = [e["response"].get("location", "") for e in response.json()["entry"]]
    return next(loc for loc in locations if loc.startswith("DocumentReference/")).rsplit("/", 1)[1]


def patch(facade: Facade, ops: Any, *, path: str | None = None, unique_id: str = "", **params: str) -> Any:
    url = path or "/fhir/DocumentReference"
    query = {"identifier": f"urn:ietf:rfc:3986|urn:oid:{unique_id}"} if unique_id else {}
    return facade.client.patch(url, params={**query, **params}, content=json.dumps(ops).encode(), headers=JSON_PATCH)


def codes(resource: dict[str, Any]) -> list[str]:
    return [c["code"] for label in resource["securityLabel"] for c in label["coding"]]


def iti57_bodies(facade: Facade) -> list[etree._Element]:
    out = []
    for path in facade.inbox():
        raw = path.read_bytes()
        if REGISTRY_PATH.encode() in raw.split(b"\r\n", 1)[0] and b"UpdateDocumentSet" in raw:
            out.append(xmldoc.parse(raw.split(b"\r\n\r\n", 1)[1]))
    return out


def problem(response: Any) -> list[str]:
    return [c for s, c in outcome_codes(response.json()) if s == PROBLEM]


@pytest.fixture(scope="module")
def lcm(kit_path: Path) -> XmlSchema:
    return kit_schema(kit_path, "schemas/ihe/ebRS/lcm.xsd")


def test_mask_archive_unarchive_delete_through_the_simulator(facade: Facade, lcm: XmlSchema) -> None:
    first_id, second_id = post(facade, f"{UID}.1"), post(facade, f"{UID}.2")

    stale = facade.client.patch(
        "/fhir/DocumentReference", params={"identifier": f"urn:ietf:rfc:3986|urn:oid:{UID}.1"},
        content=json.dumps(MASK).encode(), headers={**JSON_PATCH, "If-Match": 'W/"3"'},
    )  # fmt: skip
    assert stale.status_code == 412 and problem(stale) == ["patch-version-mismatch"]
    masked = patch(facade, MASK, unique_id=f"{UID}.1")
    assert masked.status_code == 200, masked.text
    doc = masked.json()
    assert codes(doc) == ["N", "MASQUE_PS"] and doc["meta"]["versionId"] == "2"
    assert doc["id"] != first_id  # a new metadata version has a new entryUUID; the logical id stays
    assert doc["identifier"][0]["value"] == f"urn:uuid:{first_id}"
    assert masked.headers["etag"] == 'W/"2"'

    # the new id the masking answered is unknown to the facade's registry: the DMP is asked which document it is
    unknown_id = patch(facade, ARCHIVE, path=f"/fhir/DocumentReference/{doc['id']}")
    assert unknown_id.status_code == 422 and problem(unknown_id) == ["patch-patient-required"]
    by_new_id = patch(facade, UNARCHIVE, path=f"/fhir/DocumentReference/{doc['id']}", **{"patient.identifier": INS})
    assert by_new_id.status_code == 200 and by_new_id.json()["id"] == doc["id"]  # not archived: no change, no update
    archived = patch(facade, ARCHIVE, path=f"/fhir/DocumentReference/{first_id}")  # the facade's own (first) id
    assert archived.status_code == 200, archived.text
    assert archived.json()["extension"] == [{"url": IS_ARCHIVED, "valueBoolean": True}]
    assert archived.json()["status"] == "current" and codes(archived.json()) == ["N", "MASQUE_PS"]
    unarchived = patch(facade, UNARCHIVE, unique_id=f"{UID}.1")
    assert unarchived.status_code == 200
    assert unarchived.json()["extension"] == [{"url": IS_ARCHIVED, "valueBoolean": False}]

    deleted = patch(facade, DELETE, path=f"/fhir/DocumentReference/{second_id}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["status"] == "entered-in-error"
    gone = patch(facade, ARCHIVE, path=f"/fhir/DocumentReference/{second_id}")
    assert gone.status_code == 409 and problem(gone) == ["dmp-document-not-current"]  # deletion is final

    # the facade's registry follows the DMP
    local = facade.client.get(f"/fhir/DocumentReference/{first_id}").json()
    assert codes(local) == ["N", "MASQUE_PS"] and local["status"] == "current"
    assert facade.client.get(f"/fhir/DocumentReference/{second_id}").json()["status"] == "entered-in-error"
    # the simulator's registry: two versions of the first (v1 Deprecated), the second Deleted
    entries = facade.simulator.simulator.registry.entries(unique_ids=[f"{UID}.1", f"{UID}.2"])
    assert sorted((e.unique_id[-1], e.version, e.status) for e in entries) == [
        ("1", 1, "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"), ("1", 2, APPROVED), ("2", 1, DELETED),
    ]  # fmt: skip

    audit = facade.client.get("/fhir/AuditEvent")
    assert audit.status_code == 200, audit.text
    done = [e["resource"] for e in audit.json()["entry"] if e["resource"]["subtype"][0]["code"].startswith("dmp-")]
    assert [(e["subtype"][0]["code"], e["action"], e["outcome"]) for e in done] == [
        ("dmp-visibility", "U", "0"), ("dmp-archive", "U", "0"), ("dmp-unarchive", "U", "0"), ("dmp-delete", "U", "0"),
    ]  # fmt: skip
    assert "185076912345673" not in audit.text  # the patient is a keyed hash

    bodies = iti57_bodies(facade)
    assert len(bodies) == 4
    for envelope in bodies:
        action = envelope.findtext(".//{http://www.w3.org/2005/08/addressing}Action")
        assert action == "urn:ihe:iti:2010:UpdateDocumentSet"
        request = envelope.find(".//{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest")
        assert request is not None and lcm.errors(request) == []
    statuses = [
        [v.text for v in b.iterfind(".//rim:Association/rim:Slot/rim:ValueList/rim:Value", RIM)] for b in bodies[1:]
    ]
    assert statuses == [[APPROVED, ARCHIVED], [ARCHIVED, APPROVED], [APPROVED, DELETED]]
    kinds = [b.find(".//rim:Association", RIM).get("associationType") for b in bodies]
    assert (
        kinds
        == ["urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"]
        + ["urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"] * 3
    )


def _indirect(settings: Settings) -> None:
    settings.vihf.auth_mode = "INDIRECTE"


def test_indirect_mode_refuses_mask_and_archive_before_sending(start_facade: Callable[..., Facade]) -> None:
    facade = start_facade(configure=_indirect)
    doc_id = post(facade, "1.2.250.1.999.1.1.301.1")
    sent = len(facade.inbox())
    for ops in (MASK, ARCHIVE):
        refused = patch(facade, ops, path=f"/fhir/DocumentReference/{doc_id}")
        assert refused.status_code == 403, refused.text
        assert problem(refused) == ["dmp-rights-forbidden"]
    assert len(facade.inbox()) == sent  # nothing reached the DMP, not even the GetDocuments
    deleted = patch(facade, DELETE, path=f"/fhir/DocumentReference/{doc_id}")  # its own document: open in INDIRECTE
    assert deleted.status_code == 200 and deleted.json()["status"] == "entered-in-error"


def test_a_dmp_refusal_leaves_both_registries_unchanged(start_facade: Callable[..., Facade]) -> None:
    """The facade is told its contract opens archiving (FACADE_DMP__GRANTED_TRANSACTIONS); the DMP's own matrix
    does not: the DMP refuses, the answer is 403 and nothing changed on either side."""

    def granted(settings: Settings) -> None:
        _indirect(settings)
        settings.dmp.granted_transactions = ["TD3.3d"]

    facade = start_facade(configure=granted)
    assert "TD3.3d" not in DEFAULT_RIGHTS["INDIRECTE"]
    doc_id = post(facade, "1.2.250.1.999.1.1.302.1")
    before = facade.simulator.simulator.registry.entries()
    refused = patch(facade, ARCHIVE, path=f"/fhir/DocumentReference/{doc_id}")
    assert refused.status_code == 403, refused.text
    assert problem(refused) == ["dmp-access-denied"]
    assert facade.simulator.simulator.registry.entries() == before
    local = facade.client.get(f"/fhir/DocumentReference/{doc_id}").json()
    assert "extension" not in local and local["status"] == "current"
    assert len(iti57_bodies(facade)) == 1  # it was sent, and refused


def test_refused_forms(facade: Facade) -> None:
    doc_id = post(facade, "1.2.250.1.999.1.1.303.1")
    delete = facade.client.delete(f"/fhir/DocumentReference/{doc_id}")
    assert delete.status_code == 405 and problem(delete) == ["delete-use-patch"]
    assert "entered-in-error" in delete.json()["issue"][0]["details"]["text"]
    assert delete.headers["allow"] == "GET, PATCH"
    superseded = patch(
        facade, [{"op": "replace", "path": "/status", "value": "superseded"}], unique_id="1.2.250.1.999.1.1.303.1"
    )
    assert superseded.status_code == 422 and problem(superseded) == ["patch-superseded-alone"]
    forbidden = patch(
        facade, [{"op": "replace", "path": "/description", "value": "x"}], unique_id="1.2.250.1.999.1.1.303.1"
    )
    assert forbidden.status_code == 405 and problem(forbidden) == ["patch-element-forbidden"]
    dropped = patch(
        facade, [{"op": "replace", "path": "/securityLabel/0", "value": MASK[0]["value"]}],
        unique_id="1.2.250.1.999.1.1.303.1",
    )  # fmt: skip
    assert dropped.status_code == 422 and problem(dropped) == ["patch-confidentiality-required"]
    bad_key = patch(facade, DELETE, unique_id="1.2.250.1.999.9.9", **{"patient.identifier": INS[:-2] + "00"})
    assert bad_key.status_code == 422 and problem(bad_key) == ["ins-key-mismatch"]
    unknown = patch(facade, DELETE, unique_id="1.2.250.1.999.9.9", **{"patient.identifier": INS})
    assert unknown.status_code == 404 and problem(unknown) == ["dmp-document-not-found"]
    no_patient = patch(facade, DELETE, unique_id="1.2.250.1.999.9.9")
    assert no_patient.status_code == 422 and problem(no_patient) == ["patch-patient-required"]
    assert iti57_bodies(facade) == []  # none of these sent an update


PATCH_OPS = st.lists(
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "remove", "replace", "test", "move"]),
            "path": st.sampled_from(["/status", "/securityLabel/-", "/securityLabel/0", "/securityLabel/1",
                                     "/extension/0/valueBoolean", "/description", "/meta/versionId"]),
        },
        optional={
            "value": st.sampled_from([True, False, "entered-in-error", "current", "superseded", None, 1,
                                      MASK[0]["value"], {"coding": [{"system": A07, "code": "INVISIBLE_PATIENT"}]}]),
            "from": st.sampled_from(["/securityLabel/0", "/status"]),
        },
    ),
    max_size=3,
)  # fmt: skip


@settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=PATCH_OPS)
def test_random_patches_are_answered_without_500_and_the_registries_agree(facade: Facade, ops: Any) -> None:
    if not facade.runtime.outbox.find_document(unique_id=f"{UID}.9"):
        post(facade, f"{UID}.9")
    response = patch(facade, ops, unique_id=f"{UID}.9")
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        (current,) = [e for e in facade.simulator.simulator.registry.entries(unique_ids=[f"{UID}.9"])
                      if e.status != "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"]  # fmt: skip
        assert response.json()["id"] == current.entry_uuid.removeprefix("urn:uuid:")
        assert response.json()["meta"]["versionId"] == str(current.version)


def test_fhirpath_patch_parameters_archive_through_the_api(facade: Facade) -> None:
    """The other PDSm patch format: a FHIRPath Patch ``Parameters`` (application/fhir+json), as P4D's TD2.1 PATCH."""
    post(facade, f"{UID}.5")
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "operation", "part": [
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": f"DocumentReference.extension.where(url='{IS_ARCHIVED}').value"},
            {"name": "value", "valueBoolean": True},
        ]}],
    }  # fmt: skip
    response = facade.client.patch(
        "/fhir/DocumentReference", params={"identifier": f"urn:ietf:rfc:3986|urn:oid:{UID}.5"},
        content=json.dumps(parameters).encode(), headers={"Content-Type": "application/fhir+json"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["extension"] == [{"url": IS_ARCHIVED, "valueBoolean": True}]
    (entry,) = facade.simulator.simulator.registry.entries(unique_ids=[f"{UID}.5"])
    assert entry.status == ARCHIVED
    xml_patch = facade.client.patch(
        "/fhir/DocumentReference", params={"identifier": f"urn:oid:{UID}.5"}, content=b"<diff/>",
        headers={"Content-Type": "application/xml-patch+xml"},
    )  # fmt: skip
    assert xml_patch.status_code == 415 and problem(xml_patch) == ["unsupported-media-type"]
