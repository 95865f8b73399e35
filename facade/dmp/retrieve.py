"""TD3.2, reading a document from the DMP: IHE ITI-43 RetrieveDocumentSet to the repository (pdsm4dmp §3.1, §3.4).

Request (plain SOAP 1.2 with its own VIHF, Action ``urn:ihe:iti:2007:RetrieveDocumentSet``)::

    <xdsb:RetrieveDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007">
      <xdsb:DocumentRequest>
        <xdsb:RepositoryUniqueId>1.2.250.1.213.4.1.1.1.2</xdsb:RepositoryUniqueId>
        <xdsb:DocumentUniqueId>uniqueId</xdsb:DocumentUniqueId>
      </xdsb:DocumentRequest>
    </xdsb:RetrieveDocumentSetRequest>

Answer (GIE TD3.2, MTOM): ``xdsb:RetrieveDocumentSetResponse`` = ``rs:RegistryResponse`` + one ``DocumentResponse``
(RepositoryUniqueId, DocumentUniqueId, mimeType, Document = xop:Include of a MIME part, or inline base64). A
non-Success RegistryResponse goes through the one error table (``error_mapping.retrieve_issues``: an unknown uniqueId
is 404). The rights matrix closes TD3.2 to a structure certificate in INDIRECTE mode (pdsm4dmp §3.2): refused before
anything is sent.

The FHIR side (P4D TD3.2: ``GET <attachment.url>``): ``attachment_url`` is the one place the URL is written —
``[base]/Binary/<uniqueId>?patient.identifier=<INS system>|<INS>`` (the VIHF of the call names the patient, and the
facade keeps no INS: the URL carries it, as the DocumentReference search that produced it did).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from lxml import etree

from facade.dmp.client import DmpClient, DmpService
from facade.dmp.patient_status import ins_cx
from facade.dmp.rights import Transaction, require
from facade.errors import Issue, Problem, RemoteRejectionError
from facade.soap import mtom
from facade.soap import registry_response as rr
from facade.soap.envelope import SoapResponse
from facade.xds.error_mapping import check_soap_answer, retrieve_issues

XDSB_NS = "urn:ihe:iti:xds-b:2007"
XOP_NS = "http://www.w3.org/2004/08/xop/include"
RETRIEVE_ACTION = "urn:ihe:iti:2007:RetrieveDocumentSet"
RETRIEVE_RESPONSE_ACTION = "urn:ihe:iti:2007:RetrieveDocumentSetResponse"
_X = f"{{{XDSB_NS}}}"


@dataclass(frozen=True)
class RetrievedDocument:
    unique_id: str
    repository_unique_id: str
    mime_type: str
    data: bytes


def attachment_url(base_url: str, unique_id: str, ins: str, ins_oid: str) -> str:
    """Where a DocumentReference's ``content.attachment.url`` points: GET it to read the document (TD3.2)."""
    return f"{base_url}/Binary/{unique_id}?patient.identifier={quote(f'urn:oid:{ins_oid}|{ins}', safe=':')}"


def build_request(repository_unique_id: str, unique_ids: Sequence[str]) -> etree._Element:
    root = etree.Element(f"{_X}RetrieveDocumentSetRequest", nsmap={"xdsb": XDSB_NS})
    for unique_id in unique_ids:
        request = etree.SubElement(root, f"{_X}DocumentRequest")
        etree.SubElement(request, f"{_X}RepositoryUniqueId").text = repository_unique_id
        etree.SubElement(request, f"{_X}DocumentUniqueId").text = unique_id
    return root


def _invalid(reason: str, response: SoapResponse) -> RemoteRejectionError:
    issue = Issue(Problem.SOAP_RESPONSE_INVALID, details={"reason": reason})
    return RemoteRejectionError(issue.problem, issues=[issue], retryable=False, response=response)


def _content(document: etree._Element, response: SoapResponse) -> bytes:
    include = document.find(f"{{{XOP_NS}}}Include")
    if include is not None:
        cid = mtom.content_id_from_href(include.get("href", ""))
        part = response.attachments.get(cid)
        if part is None:
            raise _invalid(f"xop:Include {cid} has no MIME part", response)
        return part.data
    try:
        return base64.b64decode("".join((document.text or "").split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _invalid(f"xdsb:Document is neither xop:Include nor base64: {exc}", response) from exc


def parse_response(response: SoapResponse) -> list[RetrievedDocument]:
    """The documents of an ITI-43 answer; raises RemoteRejectionError for a fault, an error or a malformed answer."""
    payload = response.payload
    if payload is None or payload.tag != f"{_X}RetrieveDocumentSetResponse":
        raise _invalid(
            f"expected xdsb:RetrieveDocumentSetResponse, got {payload.tag if payload is not None else 'an empty Body'}",
            response,
        )  # noqa: E501
    status_el = next((c for c in payload if isinstance(c.tag, str) and rr.is_registry_response(c)), None)
    if status_el is None:
        raise _invalid("RetrieveDocumentSetResponse without rs:RegistryResponse", response)
    status = rr.parse(status_el)
    documents = []
    for doc in payload.iterfind(f"{_X}DocumentResponse"):
        content = doc.find(f"{_X}Document")
        if content is None:
            raise _invalid("DocumentResponse without xdsb:Document", response)
        documents.append(
            RetrievedDocument(
                unique_id=(doc.findtext(f"{_X}DocumentUniqueId") or "").strip(),
                repository_unique_id=(doc.findtext(f"{_X}RepositoryUniqueId") or "").strip(),
                mime_type=(doc.findtext(f"{_X}mimeType") or "").strip() or "application/octet-stream",
                data=_content(content, response),
            )
        )
    if not documents or status.status is rr.ResponseStatus.FAILURE:  # PartialSuccess still carries documents
        issues = retrieve_issues(status)
        if not any(i.is_error for i in issues):
            issues = [Issue(Problem.DMP_DOCUMENT_NOT_FOUND, details={"context": "the DMP returned no document"})]
        errors = [i for i in issues if i.is_error]
        raise RemoteRejectionError(errors[0].problem, issues=errors, retryable=False, response=response)
    return documents


@dataclass(frozen=True)
class RetrieveService:
    client: DmpClient
    repository_unique_id: str
    auth_mode: str
    granted: tuple[str, ...]

    def retrieve(self, unique_id: str, ins: str, ins_oid: str) -> RetrievedDocument:
        """One document by uniqueId for the patient (the VIHF names them): 403 before sending in INDIRECTE mode."""
        require(self.auth_mode, Transaction.TD3_2, self.granted)
        body = build_request(self.repository_unique_id, [unique_id])
        request = self.client.request(
            DmpService.REPOSITORY, RETRIEVE_ACTION, [body], patient_ins_cx=ins_cx(ins, ins_oid)
        )
        response = self.client.transports[DmpService.REPOSITORY].send(request)
        check_soap_answer(response, message_id=request.message_id)
        documents = parse_response(response)
        match = [d for d in documents if d.unique_id == unique_id]
        if not match:
            raise _invalid(f"the DMP answered with {[d.unique_id for d in documents]}, not {unique_id}", response)
        return match[0]
