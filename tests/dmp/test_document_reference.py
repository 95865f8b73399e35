"""DocumentEntry (official TD3.1 response) -> PDSm DocumentReference, and the searchset around it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from facade.dmp.document_reference import IS_ARCHIVED, fhir_instant, to_document_reference
from facade.dmp.registry_entry import RegistryEntry
from facade.dmp.search import SearchPage, latest_per_document, ordered, searchset_bundle
from facade.dmp.search_params import SearchLimits, parse_search
from facade.dmp.stored_query import DELETED, read_query_response
from facade.model.identifiers import INS_OIDS_TEST
from facade.soap.envelope import parse_response

ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"


@pytest.fixture()
def kit_entries(kit_path: Path) -> list[RegistryEntry]:
    path = kit_path / "examples" / "dmp" / "TD3.1_recherche_document_response.xml"
    if not path.is_file():
        pytest.skip(f"{path} absent")
    return read_query_response(parse_response("application/soap+xml", path.read_bytes()))


def test_the_official_entry_as_a_pdsm_document_reference(kit_entries: list[RegistryEntry]) -> None:
    resource = to_document_reference(kit_entries[0], attachment="https://f/fhir/Binary/x")

    assert resource["id"] == "7953af1a-ba1c-11eb-816f-0050569e422e"
    assert resource["meta"] == {"versionId": "1"}
    assert resource["status"] == "current"
    assert resource["extension"] == [{"url": IS_ARCHIVED, "valueBoolean": False}]
    assert resource["identifier"] == [
        {"use": "official", "system": "urn:ietf:rfc:3986", "value": "urn:uuid:7953af1a-ba1c-11eb-816f-0050569e422e"}
    ]
    assert resource["masterIdentifier"]["value"].startswith("urn:oid:")
    assert resource["subject"] == {"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "207058575627097"}}
    labels = [(c["system"], c["code"]) for label in resource["securityLabel"] for c in label["coding"]]
    assert ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "N") in labels
    assert any(code == "INVISIBLE_PATIENT" and "TRE_A07" in system for system, code in labels)
    attachment = resource["content"][0]["attachment"]
    assert attachment["contentType"] == "text/xml" and attachment["size"] == 2768
    assert attachment["creation"] == "2010-03-19T18:32:44Z" and attachment["url"] == "https://f/fhir/Binary/x"
    assert resource["content"][0]["format"]["code"] == "urn:ihe:iti:xds-sd:text:2008"
    assert resource["category"][0]["coding"][0]["code"] == "10"
    assert resource["context"]["period"] == {"start": "2010-03-19T18:32:44Z", "end": "2010-03-19T18:32:44Z"}
    assert resource["context"]["event"][0]["coding"][0]["code"] == "H33"
    assert resource["description"] == "commentaire du document de TEST KIT EDITEUR CSharp"


@pytest.mark.parametrize(
    ("status", "fhir", "archived"),
    [(ARCHIVED, "current", True), (DEPRECATED, "superseded", False), (DELETED, "entered-in-error", False)],
)
def test_statuses(kit_entries: list[RegistryEntry], status: str, fhir: str, archived: bool) -> None:
    resource = to_document_reference(replace(kit_entries[0], status=status))
    assert resource["status"] == fhir and resource["extension"][0]["valueBoolean"] is archived
    assert "url" not in resource["content"][0]["attachment"]


def test_dtm_to_fhir() -> None:
    assert fhir_instant("2010") == "2010"
    assert fhir_instant("20100319") == "2010-03-19"
    assert fhir_instant("201003191832") == "2010-03-19T18:32:00Z"
    assert fhir_instant("") is None and fhir_instant("2010-03") is None


def test_one_document_per_logical_id_newest_first_and_pages(kit_entries: list[RegistryEntry]) -> None:
    first = kit_entries[0]
    v2 = replace(first, entry_uuid="urn:uuid:ffffffff-0000-0000-0000-000000000002", version="2")
    assert latest_per_document([first, v2]) == [v2]
    newest = ordered(kit_entries)
    assert [e.creation_time for e in newest] == sorted((e.creation_time for e in kit_entries), reverse=True)

    ins = "207058575627097"
    params = [("patient.identifier", f"urn:oid:1.2.250.1.213.1.4.10|{ins}"), ("status", "current"), ("_count", "5")]
    search = replace(parse_search(params, SearchLimits(INS_OIDS_TEST)), offset=5)
    bundle = searchset_bundle(SearchPage(search, newest[5:10], len(newest)), "https://f/fhir")
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert bundle["total"] == 21 and len(bundle["entry"]) == 5
    assert links["next"].endswith("_offset=10") and "_offset=0" not in links["first"]
    assert "_offset" not in links["previous"] and "_count=5" in links["previous"]
    assert links["self"].startswith("https://f/fhir/DocumentReference?patient.identifier=urn:oid:1.2.250.1.213.1.4.10|")
    entry = bundle["entry"][0]
    assert entry["fullUrl"] == f"https://f/fhir/DocumentReference/{entry['resource']['id']}"
    assert entry["resource"]["content"][0]["attachment"]["url"].startswith("https://f/fhir/Binary/")
