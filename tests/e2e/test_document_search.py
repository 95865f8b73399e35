"""TD3.1 through the HTTP API: ``GET /fhir/DocumentReference?patient.identifier=…&status=…`` -> ITI-18 to the
simulated DMP (real mutual TLS, signed VIHF) -> a searchset of PDSm DocumentReferences, paged; the refusals are
OperationOutcomes with their own codes and nothing is sent for them."""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from lxml import etree

from facade import xmldoc
from facade.settings import Settings
from facade.simulator.registry import StoredDocument
from facade.xds.error_mapping import XDS_ERROR_SYSTEM

from .conftest import Facade, bundle

TWO_DOCUMENTS = "multi/two-documents.json"
ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
DEPRECATED_URN = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
IS_ARCHIVED = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"
RPLC_TARGET = "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000021"  # the entry replacement/rplc.json replaces


def _indirect(settings: Settings) -> None:
    settings.vihf.auth_mode = "INDIRECTE"  # the production default (the demo is AIR)


def _air(settings: Settings) -> None:
    settings.vihf.auth_mode = "INDIRECTE_RENFORCEE"


def _fed(facade: Facade) -> tuple[str, list[StoredDocument]]:
    """Post the two-document bundle: the patient's ``patient.identifier`` token and the two stored documents."""
    assert facade.post(bundle(TWO_DOCUMENTS)).status_code == 200
    docs = [d for d in facade.simulator.simulator.registry.documents() if not d.is_signature]
    ins, _, rest = docs[0].patient_id.partition("^^^&")
    return f"urn:oid:{rest.partition('&')[0]}|{ins}", docs


def _get(facade: Facade, params: list[tuple[str, str]], headers: dict[str, str] | None = None) -> httpx.Response:
    response: httpx.Response = facade.client.get("/fhir/DocumentReference", params=params, headers=headers or {})
    return response


def _codes(outcome: dict[str, Any]) -> list[str]:
    return [c["code"] for i in outcome["issue"] for c in i["details"]["coding"] if c["system"].endswith("/problem")]


def _link(bundle_: dict[str, Any], relation: str) -> str | None:
    return next((link["url"] for link in bundle_["link"] if link["relation"] == relation), None)


def test_search_by_ins_and_status_answers_the_dmps_documents(start_facade: Any) -> None:
    facade = start_facade(configure=_air)
    patient, docs = _fed(facade)

    response = _get(facade, [("patient.identifier", patient), ("status", "current")])

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset" and body["total"] == 2
    by_uid = {d.unique_id: d for d in docs}
    for entry in body["entry"]:
        resource = entry["resource"]
        uid = resource["masterIdentifier"]["value"].removeprefix("urn:oid:")
        stored = by_uid[uid]
        assert resource["id"] == stored.entry_uuid.removeprefix("urn:uuid:")
        assert entry["fullUrl"].endswith(f"/fhir/DocumentReference/{resource['id']}")
        assert entry["search"] == {"mode": "match"}
        assert resource["status"] == "current" and resource["meta"]["versionId"] == "1"
        assert resource["extension"] == [{"url": IS_ARCHIVED, "valueBoolean": False}]
        assert resource["identifier"][0]["value"] == stored.entry_uuid  # logicalId = first entryUUID
        assert {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"} in [
            {k: c[k] for k in ("system", "code")} for label in resource["securityLabel"] for c in label["coding"]
        ]
        attachment = resource["content"][0]["attachment"]
        assert attachment["size"] == stored.size and attachment["contentType"] == stored.mime_type
        assert attachment["url"].startswith("http://testserver/fhir/Binary/" + uid + "?patient.identifier=")
        assert resource["subject"]["identifier"]["value"] == patient.split("|")[1]
    assert _link(body, "self") is not None and _link(body, "next") is None


def test_paging_follows_the_next_link_to_the_end(start_facade: Any) -> None:
    facade = start_facade(configure=_air)
    patient, _ = _fed(facade)

    first = _get(facade, [("patient.identifier", patient), ("status", "current"), ("_count", "1")]).json()
    next_url = _link(first, "next")
    assert first["total"] == 2 and len(first["entry"]) == 1 and next_url is not None
    parts = urlsplit(next_url)
    second = facade.client.get(f"{parts.path}?{parts.query}").json()

    assert second["total"] == 2 and len(second["entry"]) == 1
    assert second["entry"][0]["resource"]["id"] != first["entry"][0]["resource"]["id"]
    assert _link(second, "next") is None and _link(second, "previous") is not None
    zero = _get(facade, [("patient.identifier", patient), ("status", "current"), ("_count", "0")]).json()
    assert zero["total"] == 2 and zero["entry"] == []


def test_a_structure_certificate_may_search_only_by_identifier(start_facade: Any) -> None:
    """Default INDIRECTE: TD3.1a (FindDocuments) is refused before anything is sent, TD3.1b (GetDocuments) works.
    The demo settings are AIR (issue 11): this facade is set back to the production default."""
    facade = start_facade(configure=_indirect)
    patient, docs = _fed(facade)
    sent = len(facade.inbox())

    refused = _get(facade, [("patient.identifier", patient), ("status", "current")])
    assert refused.status_code == 403 and _codes(refused.json()) == ["dmp-rights-forbidden"]
    assert "TD3.1b" in refused.json()["issue"][0]["details"]["text"]
    assert len(facade.inbox()) == sent

    wanted = docs[1].unique_id
    found = _get(facade, [("patient.identifier", patient), ("identifier", f"urn:ietf:rfc:3986|urn:oid:{wanted}")])
    assert found.status_code == 200, found.text
    [entry] = found.json()["entry"]
    assert entry["resource"]["masterIdentifier"]["value"] == f"urn:oid:{wanted}"
    assert len(facade.inbox()) == sent + 1
    none = _get(facade, [("patient.identifier", patient), ("identifier", "urn:oid:1.2.250.1.999.404")]).json()
    assert none["total"] == 0 and none["entry"] == []


def test_bad_searches_are_refused_with_their_own_codes_and_nothing_is_sent(start_facade: Any) -> None:
    facade = start_facade(configure=_air)
    patient, _ = _fed(facade)
    ins = patient.split("|")[1]
    wrong_key = f"{patient.split('|')[0]}|{ins[:13]}{(int(ins[13:]) % 97) + 1:02d}"
    sent = len(facade.inbox())
    ok = [("patient.identifier", patient), ("status", "current")]
    invalid = "search-invalid-parameter"
    cases: list[tuple[list[tuple[str, str]], int, str, str]] = [
        ([("status", "current")], 400, "search-required-parameter", "patient.identifier"),
        ([("patient.identifier", patient)], 400, "search-required-parameter", "status"),
        ([("patient.identifier", wrong_key), ("status", "current")], 422, "ins-key-mismatch", "patient.identifier"),
        ([("patient.identifier", f"urn:oid:1.2.3|{ins}"), ("status", "current")], 422, "ins-oid-not-allowed", ""),
        ([("patient.identifier", patient), ("status", "bogus")], 400, invalid, "status"),
        ([*ok, ("date", "x2024")], 400, invalid, "date"),
        ([*ok, ("type", "11490-0")], 400, invalid, "type"),
        ([*ok, ("_count", "-1")], 400, invalid, "_count"),
        ([*ok, ("type", "http://loinc.org|1"), ("type", "http://loinc.org|2")], 400, invalid, "type"),
    ]
    for params, status, code, expression in cases:
        response = _get(facade, params)
        assert response.status_code == status, (params, response.text)
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome" and code in _codes(outcome), (params, outcome)
        if expression:
            assert outcome["issue"][0]["expression"] == [expression], (params, outcome)
    assert len(facade.inbox()) == sent


def test_unknown_parameters_strict_or_lenient(start_facade: Any) -> None:
    facade = start_facade(configure=_air)
    patient, _ = _fed(facade)
    params = [("patient.identifier", patient), ("status", "current"), ("author.family", "X")]

    strict = _get(facade, params, {"Prefer": "handling=strict"})
    assert strict.status_code == 400 and _codes(strict.json()) == ["search-parameter-unknown"]
    assert strict.json()["issue"][0]["expression"] == ["author.family"]

    lenient = _get(facade, params)
    assert lenient.status_code == 200 and lenient.json()["total"] == 2
    outcome = [e for e in lenient.json()["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1 and outcome[0]["resource"]["issue"][0]["severity"] == "warning"
    assert "author.family" not in (_link(lenient.json(), "self") or "")


def test_the_search_criteria_reach_the_dmp(start_facade: Any) -> None:
    facade = start_facade(configure=_air)
    patient, docs = _fed(facade)
    base = [("patient.identifier", patient), ("status", "current")]
    type_code = docs[0].type_code

    by_type = _get(facade, [*base, ("type", f"http://loinc.org|{type_code}")]).json()
    assert by_type["total"] == sum(1 for d in docs if d.type_code == type_code) >= 1
    assert _get(facade, [*base, ("type", "http://loinc.org|00000-0")]).json()["total"] == 0
    assert _get(facade, [*base, ("date", "ge2999-01-01")]).json()["total"] == 0
    assert _get(facade, [*base, ("date", "le2999-01-01")]).json()["total"] == 2
    assert _get(facade, [*base, ("period", "ge2999")]).json()["total"] == 0
    masked = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
    everything = _get(facade, base).json()["entry"]
    labelled = [
        e
        for e in everything
        if any(c["code"] == "MASQUE_PS" for s in e["resource"]["securityLabel"] for c in s["coding"])
    ]
    found = _get(facade, [*base, ("security-label", f"{masked}|MASQUE_PS")]).json()
    assert found["total"] == len(labelled) < 2
    body = facade.inbox()[-1].read_bytes()
    assert b"$XDSDocumentEntryConfidentialityCode" in body and b"MASQUE_PS^^1.2.250.1.213.1.1.4.13" in body


def test_statuses_after_a_replacement_and_the_local_registry_follows_the_dmp(start_facade: Any) -> None:
    facade = start_facade(configure=_air)
    original = bundle("ldl-ses/pdf-discharge-letter.json").decode()
    first = original.replace("urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000012", RPLC_TARGET).encode()
    assert facade.post(first).status_code == 200
    assert facade.post(bundle("replacement/rplc.json")).status_code == 200
    registry = facade.simulator.simulator.registry
    doc = registry.by_entry_uuid(RPLC_TARGET)
    assert doc is not None
    ins, _, rest = doc.patient_id.partition("^^^&")
    patient = f"urn:oid:{rest.partition('&')[0]}|{ins}"

    superseded = _get(facade, [("patient.identifier", patient), ("status", "superseded")]).json()
    assert [e["resource"]["id"] for e in superseded["entry"]] == [RPLC_TARGET.removeprefix("urn:uuid:")]
    assert superseded["entry"][0]["resource"]["status"] == "superseded"
    current = _get(facade, [("patient.identifier", patient), ("status", "current")]).json()
    assert current["total"] == 1 and current["entry"][0]["resource"]["id"] != RPLC_TARGET.removeprefix("urn:uuid:")

    # the DMP archives the new document behind the facade's back: a search shows it and reconciles the registry
    new_uid = current["entry"][0]["resource"]["masterIdentifier"]["value"].removeprefix("urn:oid:")
    with sqlite3.connect(registry.db_path) as db:
        db.execute("UPDATE entry SET status = ? WHERE unique_id = ?", (ARCHIVED, new_uid))
    both = _get(facade, [("patient.identifier", patient), ("status", "current,superseded")]).json()
    archived = next(e["resource"] for e in both["entry"] if e["resource"]["status"] == "current")
    assert archived["extension"] == [{"url": IS_ARCHIVED, "valueBoolean": True}]
    local = facade.runtime.outbox.find_document(unique_id=new_uid)
    assert local is not None and local.availability.value == "archived"
    read = facade.client.get(f"/fhir/DocumentReference/{archived['id']}").json()
    assert read["extension"] == [{"url": IS_ARCHIVED, "valueBoolean": True}]


def test_a_dmp_error_is_mapped_through_the_one_table(start_facade: Any) -> None:
    facade = start_facade(configure=_air)
    patient, _ = _fed(facade)
    facade.simulator.simulator.script.update_from_json({"unknown_ins": [patient.split("|")[1]]})

    response = _get(facade, [("patient.identifier", patient), ("status", "current")])

    assert response.status_code == 422 and _codes(response.json()) == ["xds-unknown-patient"]
    codings = response.json()["issue"][0]["details"]["coding"]
    assert {"system": XDS_ERROR_SYSTEM, "code": "XDSUnknownPatientId"} in [
        {k: c[k] for k in ("system", "code")} for c in codings
    ]


def _names(el: Any) -> Any:
    """Tags and attribute names (not values) of an element tree: the shape two messages share."""
    return (el.tag, sorted(el.attrib), [_names(c) for c in el if isinstance(c.tag, str)])


def test_the_iti18_bodies_received_match_the_official_sample_and_the_kit_schemas(
    start_facade: Any, kit_validator: Any, kit_path: Any
) -> None:
    official_path = kit_path / "examples" / "dmp" / "TD3.1_recherche_document_request.xml"
    if not official_path.is_file():
        pytest.skip(f"{official_path} absent")
    official = xmldoc.parse(official_path.read_bytes())
    facade = start_facade(configure=_air)
    patient, docs = _fed(facade)

    assert _get(facade, [("patient.identifier", patient), ("status", "current")]).status_code == 200
    assert (
        _get(facade, [("patient.identifier", patient), ("identifier", f"urn:oid:{docs[0].unique_id}")]).json()["total"]
        == 1
    )
    find, get = (xmldoc.parse(p.read_bytes().partition(b"\r\n\r\n")[2]) for p in facade.inbox()[-2:])

    for envelope in (find, get):
        used, errors = kit_validator.validate_xsd(envelope)
        assert "query" in used and errors == []
        header = [etree.QName(c).localname for c in envelope.find("{*}Header")]  # type: ignore[union-attr]
        assert header == [etree.QName(c).localname for c in official.find("{*}Header")]  # type: ignore[union-attr]
        assert envelope.findtext("{*}Header/{http://www.w3.org/2005/08/addressing}Action") == (
            "urn:ihe:iti:2007:RegistryStoredQuery"
        )
    official_query = official.find("{*}Body/*")
    assert _names(find.find("{*}Body/*")) == _names(official_query)
    slots = {s.get("name"): s.findtext("{*}ValueList/{*}Value") for s in find.iter("{*}Slot")}
    assert slots["$XDSDocumentEntryPatientId"] == f"'{docs[0].patient_id}'"
    assert slots["$XDSDocumentEntryStatus"] == (
        "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved','urn:asip:ci-sis:2010:StatusType:Archived')"
    )
    adhoc = get.find("{*}Body/*/{*}AdhocQuery")
    assert adhoc is not None and adhoc.get("id") == "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
    assert [(s.get("name"), s.findtext("{*}ValueList/{*}Value")) for s in adhoc] == [
        ("$XDSDocumentEntryUniqueId", f"('{docs[0].unique_id}')")
    ]


def test_the_identifier_the_search_answers_leads_to_the_current_version(start_facade: Any) -> None:
    """A metadata update (ITI-57, e.g. masking) makes a version 2 with a new entryUUID and the same logicalId: a
    search by the logicalId (the DocumentReference.identifier answered) finds version 2, not the deprecated first."""
    facade = start_facade(configure=_air)
    patient, docs = _fed(facade)
    registry = facade.simulator.simulator.registry
    [v1] = registry.entries(unique_ids=[docs[0].unique_id])
    v2_uuid = "urn:uuid:0b5e2c1a-2f4d-4e5b-9c6d-7e8f90a1b2c3"
    v2_metadata = v1.metadata.replace(v1.entry_uuid.encode(), v2_uuid.encode())
    v2_metadata = v2_metadata.replace(f'lid="{v2_uuid}"'.encode(), f'lid="{v1.lid}"'.encode())
    v2_metadata = v2_metadata.replace(b'versionName="1"', b'versionName="2"')
    with sqlite3.connect(registry.db_path) as db:  # as the DMP does on an ITI-57 metadata update
        db.execute("UPDATE entry SET status = ? WHERE entry_uuid = ?", (DEPRECATED_URN, v1.entry_uuid))
        db.execute(
            "INSERT INTO entry VALUES (?, ?, ?, 2, ?, ?, ?, ?)",
            (v2_uuid, v1.lid, v1.unique_id, v1.status, v1.patient_id, v2_metadata, v1.received_at),
        )

    for identifier in (f"urn:ietf:rfc:3986|{v1.lid}", f"urn:oid:{v1.unique_id}"):
        found = _get(facade, [("patient.identifier", patient), ("identifier", identifier)]).json()
        [entry] = found["entry"]
        resource = entry["resource"]
        assert resource["id"] == v2_uuid.removeprefix("urn:uuid:") and resource["meta"]["versionId"] == "2"
        assert resource["status"] == "current" and resource["identifier"][0]["value"] == v1.lid
    current = _get(facade, [("patient.identifier", patient), ("status", "current")]).json()
    assert sorted(e["resource"]["id"] for e in current["entry"]) == sorted(
        [v2_uuid.removeprefix("urn:uuid:"), docs[1].entry_uuid.removeprefix("urn:uuid:")]
    )
