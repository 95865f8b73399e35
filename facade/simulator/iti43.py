"""ITI-43 RetrieveDocumentSet (TD3.2), as the simulated DMP repository answers it from its stored documents.

Dispatched by ``_repository`` (app.py) when the wsa:Action is ``urn:ihe:iti:2007:RetrieveDocumentSet``; the envelope
and the VIHF are checked like every plain SOAP service (``services.PlainSoapService``), then the rights matrix
(``access.refusal``, TD3.2: closed to INDIRECTE by default; a RegistryResponse Failure ``DMPAccessDenied``). Per
DocumentRequest: another RepositoryUniqueId is ``XDSUnknownRepositoryId``; a uniqueId the registry does not hold, a
deleted entry, or a document of another patient than the VIHF's resource id is ``XDSDocumentUniqueIdError`` (IHE ITI
TF-3 4.2.4; the DMP never tells which). The answer is MTOM (the GIE TD3.2 sample): RegistryResponse Success /
PartialSuccess / Failure + one DocumentResponse per found document with its mimeType and an xop:Include of a binary
part holding the exact stored bytes.
"""

from __future__ import annotations

import uuid

from lxml import etree

from facade.simulator.access import ACCESS_DENIED, refusal
from facade.simulator.config import SimulatorConfig
from facade.simulator.iti41 import Answer
from facade.simulator.registry import Registry, StoredDocument
from facade.simulator.services import VerifiedRequest
from facade.soap import mtom
from facade.soap.envelope import build_response
from facade.soap.registry_response import RegistryError, RegistryResponse, ResponseStatus
from facade.soap.registry_response import build as build_registry_response

XDSB_NS = "urn:ihe:iti:xds-b:2007"
XOP_NS = "http://www.w3.org/2004/08/xop/include"
ACTION = "urn:ihe:iti:2007:RetrieveDocumentSet"
RESPONSE_ACTION = "urn:ihe:iti:2007:RetrieveDocumentSetResponse"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"
RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
_X = f"{{{XDSB_NS}}}"


class Iti43Handler:
    def __init__(self, config: SimulatorConfig, registry: Registry) -> None:
        self.config = config
        self.registry = registry

    def __call__(self, request: VerifiedRequest) -> Answer:
        found: list[tuple[StoredDocument, bytes]] = []
        denied = refusal(self.config, request, "TD3.2")
        if denied is not None:
            return self._answer(request, found, [RegistryError(ACCESS_DENIED, denied, "")])
        patient = request.vihf.value(RESOURCE_ID) or ""
        errors: list[RegistryError] = []
        requests = list(request.payload.iterfind(f"{_X}DocumentRequest")) if request.payload is not None else []
        if not requests:
            errors.append(RegistryError("XDSRepositoryError", "RetrieveDocumentSetRequest sans DocumentRequest", ""))
        for item in requests:
            repository = (item.findtext(f"{_X}RepositoryUniqueId") or "").strip()
            unique_id = (item.findtext(f"{_X}DocumentUniqueId") or "").strip()
            if repository != self.config.repository_unique_id:
                errors.append(RegistryError("XDSUnknownRepositoryId", f"Entrepôt {repository} inconnu", repository))
                continue
            doc = self.registry.by_unique_id(unique_id) if unique_id.replace(".", "").isdigit() else None
            content = self.registry.content(unique_id) if doc is not None else None
            if doc is None or content is None or doc.status == DELETED or doc.patient_id.split("^^^")[0] != \
                    patient.split("^^^")[0]:  # fmt: skip
                errors.append(RegistryError("XDSDocumentUniqueIdError", f"Document {unique_id} introuvable", unique_id))
                continue
            found.append((doc, content))
        return self._answer(request, found, errors)

    def _answer(self, request: VerifiedRequest, found: list[tuple[StoredDocument, bytes]],
                errors: list[RegistryError]) -> Answer:  # fmt: skip
        if not errors:
            status = RegistryResponse.success()
        elif found:
            status = RegistryResponse(ResponseStatus.PARTIAL_SUCCESS, tuple(errors))
        else:
            status = RegistryResponse.failure(*errors)
        root = etree.Element(f"{_X}RetrieveDocumentSetResponse", nsmap={"xdsb": XDSB_NS})
        root.append(build_registry_response(status))
        parts = []
        for n, (doc, content) in enumerate(found, start=1):
            response = etree.SubElement(root, f"{_X}DocumentResponse")
            etree.SubElement(response, f"{_X}RepositoryUniqueId").text = self.config.repository_unique_id
            etree.SubElement(response, f"{_X}DocumentUniqueId").text = doc.unique_id
            etree.SubElement(response, f"{_X}mimeType").text = doc.mime_type or "text/xml"
            cid = f"doc{n}.{uuid.uuid4().hex}@simulateur-dmp"
            document = etree.SubElement(response, f"{_X}Document")
            etree.SubElement(document, f"{{{XOP_NS}}}Include", nsmap={"xop": XOP_NS}, href=mtom.cid_href(cid))
            parts.append(mtom.Part(content_id=cid, content_type="application/octet-stream", data=content))
        envelope = build_response(
            root, relates_to=request.message_id, message_id=f"urn:uuid:{uuid.uuid4()}", action=RESPONSE_ACTION
        )
        content_type, body = mtom.pack(
            envelope, parts, action=RESPONSE_ACTION, root_content_id=f"root.{uuid.uuid4().hex}@simulateur-dmp"
        )
        return Answer(200, content_type, body, "success" if found else "failure")
