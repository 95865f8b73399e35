"""The simulated DMP registry's ITI-57 refusals, driven with the facade's own builders over mutual TLS: each is a
RegistryResponse Failure with its IHE code, mapped through the one XDS table, and the registry is left as it was."""

from __future__ import annotations

import json
import ssl
from typing import Any

import httpx
import pytest
from lxml import etree

from facade.dmp.client import DmpService
from facade.dmp.iti57 import DELETED, UPDATE_DOCUMENT_SET, availability_update, metadata_update
from facade.dmp.stored_query import get_documents, latest_current
from facade.errors import Problem, RemoteRejectionError
from facade.model import oids
from facade.model.document import Code
from facade.pki import TestPki
from facade.xds.codes import AvailabilityStatus
from facade.xds.error_mapping import check_response
from tests.e2e.conftest import Facade
from tests.e2e.test_document_update import ARCHIVE, MASK, patch, post

INS_CX = "185076912345673^^^&1.2.250.1.213.1.4.10&ISO^NH"
INS = "urn:oid:1.2.250.1.213.1.4.10|185076912345673"
UID = "1.2.250.1.999.1.1.310.1"
APPROVED, ARCHIVED = AvailabilityStatus.APPROVED.value, AvailabilityStatus.ARCHIVED.value


def send(facade: Facade, request: etree._Element) -> None:
    client = facade.runtime.dmp_client
    soap = client.request(DmpService.REGISTRY, UPDATE_DOCUMENT_SET, [request], patient_ins_cx=INS_CX)
    check_response(client.transports[DmpService.REGISTRY].send(soap), message_id=soap.message_id)


def refused(facade: Facade, request: etree._Element) -> tuple[Problem, str]:
    before = facade.simulator.simulator.registry.entries()
    with pytest.raises(RemoteRejectionError) as caught:
        send(facade, request)
    assert facade.simulator.simulator.registry.entries() == before
    issue = caught.value.issues[0]
    return issue.problem, issue.codings[0][1]


def test_the_registry_refuses_stale_unknown_and_impossible_updates(facade: Facade) -> None:
    post(facade, UID)
    header = facade.runtime.document_updater()._header(INS_CX)
    entry = latest_current(get_documents(facade.runtime.dmp_client, INS_CX, [UID]))
    assert entry is not None and entry.element is not None and entry.version == "1"
    codes = [
        Code("N", oids.HL7_CONFIDENTIALITY, "Normal"),
        Code("MASQUE_PS", oids.TRE_A07_STATUT_VISIBILITE_DOCUMENT, "M"),
    ]

    stale = metadata_update(header, entry.element, "7", codes)
    assert refused(facade, stale) == (Problem.XDS_UPDATE_CONFLICT, "XDSMetadataVersionError")
    unknown = availability_update(header, "urn:uuid:00000000-0000-4000-8000-000000000000", APPROVED, ARCHIVED)
    assert refused(facade, unknown) == (Problem.XDS_UNRESOLVED_REFERENCE, "UnresolvedReferenceException")
    not_archived = availability_update(header, entry.entry_uuid, ARCHIVED, APPROVED)
    assert refused(facade, not_archived) == (Problem.XDS_BUSINESS_RULE, "XDSMetadataUpdateError")
    to_deprecated = availability_update(header, entry.entry_uuid, APPROVED, AvailabilityStatus.DEPRECATED.value)
    assert refused(facade, to_deprecated) == (Problem.XDS_METADATA_REJECTED, "XDSMetadataUpdateOperationError")

    outside = [*codes, Code("MASQUE_PT", oids.TRE_A07_STATUT_VISIBILITE_DOCUMENT, "hors J58")]
    assert refused(facade, metadata_update(header, entry.element, "1", outside)) == (
        Problem.XDS_METADATA_REJECTED, "XDSRegistryMetadataError",
    )  # fmt: skip
    send(facade, metadata_update(header, entry.element, "1", codes))  # the right version goes through
    again = metadata_update(header, entry.element, "1", codes)  # the same request again is now stale
    assert refused(facade, again) == (Problem.XDS_UPDATE_CONFLICT, "XDSMetadataVersionError")
    current = latest_current(get_documents(facade.runtime.dmp_client, INS_CX, [UID]))
    assert current is not None and current.version == "2"
    send(facade, availability_update(header, current.entry_uuid, APPROVED, DELETED))
    statuses = sorted(e.status for e in facade.simulator.simulator.registry.entries(unique_ids=[UID]))
    assert statuses == [DELETED, AvailabilityStatus.DEPRECATED.value]


def test_only_the_authoring_structure_deletes_at_the_facade_and_at_the_dmp(start_facade: Any) -> None:
    """A second site of the same legal entity (its VIHF names the legal entity): the facade refuses the delete of
    the first site's document (403, nothing sent); sent anyway, the DMP refuses it too and keeps it."""
    author = start_facade()
    post(author, UID)
    other = start_facade(configure=lambda s: setattr(s.facility, "finess_eg", s.facility.finess_ej))
    sent = len(other.inbox())
    refused_here = other.client.patch(
        "/fhir/DocumentReference", params={"identifier": f"urn:oid:{UID}", "patient.identifier": INS},
        content=json.dumps([{"op": "replace", "path": "/status", "value": "entered-in-error"}]).encode(),
        headers={"Content-Type": "application/json-patch+json"},
    )  # fmt: skip
    assert refused_here.status_code == 403, refused_here.text
    assert refused_here.json()["issue"][0]["details"]["coding"][0]["code"] == "patch-not-own-document"
    assert not [p for p in other.inbox()[sent:] if b"UpdateDocumentSet" in p.read_bytes()]

    entry = latest_current(get_documents(other.runtime.dmp_client, INS_CX, [UID]))
    assert entry is not None
    header = other.runtime.document_updater()._header(INS_CX)
    assert refused(other, availability_update(header, entry.entry_uuid, APPROVED, DELETED)) == (
        Problem.DMP_ACCESS_DENIED, "DMPAccessDenied",
    )  # fmt: skip


def test_the_admin_listing_shows_each_documents_current_status_and_version(facade: Facade, e2e_pki: TestPki) -> None:
    """``GET /_simulator/documents`` after a mask (version 2, new entryUUID) and an archive of that version: the
    document's current status and version, not its first version's."""
    first_id = post(facade, f"{UID}.9")
    assert patch(facade, MASK, unique_id=f"{UID}.9").status_code == 200
    archived = patch(facade, ARCHIVE, unique_id=f"{UID}.9")
    assert archived.status_code == 200, archived.text
    ctx = ssl.create_default_context(cafile=str(e2e_pki.ca_cert))
    ctx.load_cert_chain(str(e2e_pki.auth_cert), str(e2e_pki.auth_key))
    with httpx.Client(verify=ctx, timeout=10) as client:
        listed = client.get(f"{facade.simulator.base_url}/_simulator/documents").json()
    [doc] = [d for d in listed if d["unique_id"] == f"{UID}.9"]
    assert (doc["status"], doc["version"]) == (ARCHIVED, 2)
    assert doc["entry_uuid"] == f"urn:uuid:{first_id}"  # the document as first registered
    assert doc["current_entry_uuid"] == f"urn:uuid:{archived.json()['id']}" != doc["entry_uuid"]
