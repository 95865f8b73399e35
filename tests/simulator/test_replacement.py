"""The simulator's registry semantics for a replacement (RPLC), over real mutual TLS with real signatures: an accepted
RPLC deprecates the replaced entry (visible in ``GET /_simulator/documents``); a replacement of an unknown, already
replaced (deprecated) or other patient's entry, or a double replacement, is refused with its error code and changes
nothing; two replacements of one entry cannot both succeed, even when the second passed the checks first."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from facade.simulator import SimulatorServer
from facade.simulator.registry import APPROVED, DEPRECATED, NewDocument, Registry, ReplacedMeanwhile
from facade.soap.envelope import parse_response

from .builders import INS_OID, Doc, RequestFactory, Submission, cda, default_claims, new_oid, patient_cx

OTHER_INS = "280017512345610"  # a second valid NIR (key 97 - body mod 97)


def send(
    client: httpx.Client, server: SimulatorServer, sub: Submission, factory: RequestFactory, **options: Any
) -> list[str]:
    """Post ``sub``; the RegistryError codes of the answer ([] = Success)."""
    request = factory.request(sub, **options)
    r = client.post(server.url, content=request.body, headers={"content-type": request.content_type})
    assert r.status_code == 200, r.text
    response = parse_response(r.headers["content-type"], r.content).registry_response
    assert response is not None
    return [e.error_code for e in response.errors]


def listed(client: httpx.Client, server: SimulatorServer) -> dict[str, dict[str, Any]]:
    """The registry as the admin API shows it, by uniqueId."""
    r = client.get(server.base_url + "/_simulator/documents")
    assert r.status_code == 200
    return {d["unique_id"]: d for d in r.json()}


def replacing(entry_uuid: str, *, documents: int = 1) -> Submission:
    sub = Submission.single()
    for n in range(2, documents + 1):
        uid = new_oid()
        sub.documents.append(Doc(f"Document0{n}", uid, cda(uid)))
    for doc in sub.documents:
        sub.rplc.append((doc.entry_id, entry_uuid))
    return sub


@pytest.fixture()
def original(server: SimulatorServer, client: httpx.Client, factory: RequestFactory) -> str:
    """A delivered document: its entryUUID."""
    first = Submission.single()
    assert send(client, server, first, factory) == []
    stored = server.simulator.registry.by_unique_id(first.documents[0].unique_id)
    assert stored is not None and stored.status == APPROVED
    return stored.entry_uuid


def test_an_rplc_deprecates_the_replaced_entry_as_the_admin_api_shows(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory, original: str
) -> None:
    sub = replacing(original)
    assert send(client, server, sub, factory) == []
    documents = listed(client, server)
    old = next(d for d in documents.values() if d["entry_uuid"] == original)
    new = documents[sub.documents[0].unique_id]
    assert old["status"] == DEPRECATED and old["replaces"] is None
    assert new["status"] == APPROVED and new["replaces"] == original


def test_replacing_a_deprecated_entry_is_refused_and_changes_nothing(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory, original: str
) -> None:
    assert send(client, server, replacing(original), factory) == []
    before = listed(client, server)
    again = replacing(original)
    assert send(client, server, again, factory) == ["XDSRegistryDeprecatedDocumentError"]
    assert listed(client, server) == before
    assert again.documents[0].unique_id not in before


def test_replacing_an_unknown_entry_is_an_unresolved_reference(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    sub = replacing("urn:uuid:00000000-0000-4000-8000-000000000000")
    assert send(client, server, sub, factory) == ["UnresolvedReferenceException"]
    assert listed(client, server) == {}


def test_replacing_another_patients_entry_is_refused(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory, original: str
) -> None:
    cx = patient_cx(OTHER_INS, INS_OID)
    uid = new_oid()
    sub = Submission(patient_id=cx, documents=[Doc("Document01", uid, cda(uid, ins=OTHER_INS), patient_id=cx)])
    sub.rplc.append(("Document01", original))
    assertion = factory.vihf(default_claims(patient_ins_cx=cx), mutate=lambda a: None)  # VIHF about that patient
    assert send(client, server, sub, factory, assertion=assertion) == ["XDSPatientIdDoesNotMatch"]
    assert server.simulator.registry.by_entry_uuid(original).status == APPROVED  # type: ignore[union-attr]


def test_two_entries_replacing_one_document_in_one_submission_are_refused(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory, original: str
) -> None:
    assert send(client, server, replacing(original, documents=2), factory) == ["XDSRegistryMetadataError"]
    assert server.simulator.registry.by_entry_uuid(original).status == APPROVED  # type: ignore[union-attr]
    assert len(listed(client, server)) == 2  # the original and its lot signature


def test_a_replacement_stored_after_another_one_is_refused_atomically(tmp_path: Any) -> None:
    """The race the checks cannot see: both replacements of X were checked while X was Approved; the store
    deprecates X only while it is still Approved, so the second one stores nothing (files included)."""
    registry = Registry(tmp_path)
    cx = patient_cx()

    def document(unique_id: str, replaces: str | None = None) -> NewDocument:
        data = cda(unique_id)
        digest = hashlib.sha1(data).hexdigest()  # noqa: S324 (XDS hash)
        return NewDocument(unique_id, cx, "text/xml", data, digest, "10", "11488-4", "f", False, replaces)

    def store(doc: NewDocument) -> None:
        registry.store(
            submission_unique_id=new_oid(),
            patient_id=cx,
            source_id=None,
            received_at="2026-03-02T17:00:00+00:00",
            request_number=None,
            documents=[doc],
        )

    (x,) = [document(new_oid())]
    store(x)
    old = registry.by_unique_id(x.unique_id)
    assert old is not None
    first, second = document(new_oid(), old.entry_uuid), document(new_oid(), old.entry_uuid)
    store(first)
    with pytest.raises(ReplacedMeanwhile):
        store(second)
    assert registry.by_unique_id(second.unique_id) is None and registry.content(second.unique_id) is None
    assert [d.status for d in registry.documents()] == [DEPRECATED, APPROVED]
