"""SOAP 1.2 envelope for ITI-41 (TD2.1), WS-Addressing, WS-Security holding the VIHF; response parsing.

Spec §2.3 (SOAP 1.2, WS-A, MTOM), §1.1 (VIHF placement), §8 (faults). Request shape (header order of the GIE sample)::

    <soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing">
      <soap:Header>
        <wsa:MessageID>urn:uuid:...</wsa:MessageID>
        <wsa:To>https://.../si-dmp-server/v2/services/repository</wsa:To>      (may be empty, like the GIE sample)
        <wsa:ReplyTo soap:mustUnderstand="true"><wsa:Address>...anonymous</wsa:Address></wsa:ReplyTo>
        <wsa:Action soap:mustUnderstand="true">urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b</wsa:Action>
        <wsse:Security><saml2:Assertion ...signed VIHF, inserted as is.../></wsse:Security>
      </soap:Header>
      <soap:Body>
        <xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007">
          <lcm:SubmitObjectsRequest>...</lcm:SubmitObjectsRequest>
          <xdsb:Document id="<ExtrinsicObject id>"><xop:Include href="cid:..."/></xdsb:Document>   (one per document)
        </xdsb:ProvideAndRegisterDocumentSetRequest>
      </soap:Body>
    </soap:Envelope>

``mustUnderstand`` is written as the SOAP 1.2 attribute ``soap:mustUnderstand="true"``: the GIE sample's unprefixed
``mustUnderstand`` is in no namespace, so a SOAP 1.2 processor ignores it (a sample quirk, like its SOAP 1.1 namespace).

The signed assertion is copied into ``wsse:Security`` as an element (never re-parsed from a pretty-printed string,
never re-indented): the VIHF signature uses exclusive c14n, so it survives the new namespace context.

Inbound XML goes through ``facade.xmldoc.parse`` only (no DTD, no entities, no network; a DOCTYPE is refused); its
errors become SOAP_RESPONSE_INVALID here.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree

from facade import xmldoc
from facade.errors import DeliveryError, DocumentBuildError, Problem
from facade.soap import mtom, registry_response
from facade.soap.registry_response import RegistryResponse

SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSA_NS = "http://www.w3.org/2005/08/addressing"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SAML2_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
XDSB_NS = "urn:ihe:iti:xds-b:2007"
XOP_NS = "http://www.w3.org/2004/08/xop/include"
LCM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"

ITI41_ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ITI41_RESPONSE_ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
WSA_ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
WSA_FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"
SOAP12_CONTENT_TYPE = "application/soap+xml"
# XOP default for attachments: the part is opaque bytes (its real type is in the ExtrinsicObject mimeType)
DEFAULT_DOCUMENT_CONTENT_TYPE = "application/octet-stream"

_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


# --------------------------------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class SoapRequest:
    """What the transport POSTs: the HTTP Content-Type header and the exact body bytes."""

    content_type: str
    body: bytes
    message_id: str
    action: str = ITI41_ACTION
    traceparent: str | None = None  # W3C trace context sent as the HTTP ``traceparent`` header (a child span)


@dataclass(frozen=True)
class SoapFault:
    """SOAP 1.2 Fault (SOAP 1.1 faults are mapped: Client -> Sender, Server -> Receiver).

    ``code`` and ``subcodes`` are local names (``Sender``, ``DMPInvalidCertificate``), outermost subcode first.
    """

    code: str
    subcodes: tuple[str, ...] = ()
    reason: str = ""
    detail: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class SoapResponse:
    """A parsed answer. Exactly what came back: a fault, a RegistryResponse, or another payload."""

    envelope: bytes  # root part bytes as received (audit)
    soap_version: str = "1.2"
    action: str | None = None
    message_id: str | None = None
    relates_to: str | None = None
    fault: SoapFault | None = None
    registry_response: RegistryResponse | None = None
    payload: etree._Element | None = field(default=None, compare=False)  # first Body child
    attachments: Mapping[str, mtom.Part] = field(default_factory=dict)
    http_status: int | None = None


@dataclass(frozen=True)
class ProvideAndRegister:
    """A parsed ITI-41 request (tests, tooling): documents resolved from their xop:Include parts."""

    envelope: etree._Element
    message_id: str | None
    to: str | None
    action: str | None
    assertion: etree._Element | None
    submit_objects_request: etree._Element
    documents: dict[str, bytes]  # xdsb:Document/@id -> exact part bytes


# ------------------------------------------------------------------------------------------------------ building


def build_envelope(
    body_children: Sequence[etree._Element],
    *,
    action: str,
    to: str,
    message_id: str,
    assertion: etree._Element | bytes | None,
    reply_to: str = WSA_ANONYMOUS,
    adopt_body: bool = False,
) -> etree._Element:
    """SOAP 1.2 envelope with the WS-A header in the GIE sample order and the VIHF in wsse:Security. The body
    children are copied, unless ``adopt_body``: elements the caller built for this envelope only, moved in as they are
    (the ITI-41 request element holds the whole SubmitObjectsRequest: a copy of it costs more than the header)."""
    if not message_id:
        raise DocumentBuildError(Problem.SOAP_BUILD, reason="MessageID is empty")
    must_understand = f"{{{SOAP12_NS}}}mustUnderstand"
    env = etree.Element(f"{{{SOAP12_NS}}}Envelope", nsmap={"soap": SOAP12_NS, "wsa": WSA_NS})
    header = etree.SubElement(env, f"{{{SOAP12_NS}}}Header")
    etree.SubElement(header, f"{{{WSA_NS}}}MessageID").text = message_id
    to_el = etree.SubElement(header, f"{{{WSA_NS}}}To")
    if to:
        to_el.text = to
    reply = etree.SubElement(header, f"{{{WSA_NS}}}ReplyTo", {must_understand: "true"})
    etree.SubElement(reply, f"{{{WSA_NS}}}Address").text = reply_to
    etree.SubElement(header, f"{{{WSA_NS}}}Action", {must_understand: "true"}).text = action
    if assertion is not None:
        security = etree.SubElement(header, f"{{{WSSE_NS}}}Security", nsmap={"wsse": WSSE_NS})
        security.append(_assertion_element(assertion))
    body = etree.SubElement(env, f"{{{SOAP12_NS}}}Body")
    for child in body_children:
        body.append(child if adopt_body else _detached_copy(child))
    return env


def build_provide_and_register(
    submit_objects_request: etree._Element,
    documents: Sequence[tuple[str, bytes | memoryview]],
    assertion: etree._Element | bytes | None,
    *,
    to: str,
    message_id: str,
    action: str = ITI41_ACTION,
    document_content_type: str = DEFAULT_DOCUMENT_CONTENT_TYPE,
    boundary: str | None = None,
) -> SoapRequest:
    """ITI-41 request as MTOM: ``documents`` are (ExtrinsicObject id, exact bytes), one xdsb:Document + part each.

    Content-IDs derive from the MessageID, so the same inputs give the same bytes (the outbox stores them).
    """
    if submit_objects_request.tag != f"{{{LCM_NS}}}SubmitObjectsRequest":
        raise DocumentBuildError(
            Problem.SOAP_BUILD, reason=f"expected lcm:SubmitObjectsRequest, got {submit_objects_request.tag}"
        )
    doc_ids = [doc_id for doc_id, _ in documents]
    if len(set(doc_ids)) != len(doc_ids):
        raise DocumentBuildError(Problem.SOAP_BUILD, reason=f"duplicate document ids {doc_ids}")
    entry_ids = {el.get("id") for el in submit_objects_request.iter(f"{{{RIM_NS}}}ExtrinsicObject")}
    if set(doc_ids) != entry_ids:
        # every xdsb:Document needs its DocumentEntry and vice versa (else XDSMissingDocument[Metadata])
        raise DocumentBuildError(
            Problem.SOAP_BUILD,
            reason=f"documents {sorted(doc_ids)} do not match the ExtrinsicObject ids {sorted(map(str, entry_ids))}",
        )

    token = hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:24]
    request_el = etree.Element(f"{{{XDSB_NS}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": XDSB_NS})
    request_el.append(_detached_copy(submit_objects_request))
    parts: list[mtom.Attachment] = []
    for index, (doc_id, data) in enumerate(documents, start=1):
        cid = f"doc{index}.{token}@dmp-facade"
        doc_el = etree.SubElement(request_el, f"{{{XDSB_NS}}}Document", id=doc_id)
        etree.SubElement(doc_el, f"{{{XOP_NS}}}Include", nsmap={"xop": XOP_NS}, href=mtom.cid_href(cid))
        parts.append(mtom.Attachment(content_id=cid, content_type=document_content_type, data=data))

    env = build_envelope(
        [request_el], action=action, to=to, message_id=message_id, assertion=assertion, adopt_body=True
    )
    root = serialize(env)
    try:
        content_type, body = mtom.pack(
            root, parts, boundary=boundary, action=action, root_content_id=f"root.{token}@dmp-facade"
        )
    except mtom.MtomError as exc:
        raise DocumentBuildError(Problem.SOAP_BUILD, reason=str(exc)) from exc
    return SoapRequest(content_type=content_type, body=body, message_id=message_id, action=action)


def build_plain_request(envelope: etree._Element, *, message_id: str, action: str) -> SoapRequest:
    """A non-MTOM SOAP 1.2 request (ITI-57, ITI-18, TD0.2): ``application/soap+xml; action=...``."""
    content_type = f'{SOAP12_CONTENT_TYPE}; charset=UTF-8; action="{action}"'
    return SoapRequest(content_type=content_type, body=serialize(envelope), message_id=message_id, action=action)


def build_response(
    payload: etree._Element | RegistryResponse,
    *,
    relates_to: str | None,
    message_id: str,
    action: str = ITI41_RESPONSE_ACTION,
) -> bytes:
    """SOAP 1.2 response envelope (what the DMP sends back; used by the simulator and tests)."""
    body_el = registry_response.build(payload) if isinstance(payload, RegistryResponse) else payload
    env = etree.Element(f"{{{SOAP12_NS}}}Envelope", nsmap={"soap": SOAP12_NS, "wsa": WSA_NS})
    header = etree.SubElement(env, f"{{{SOAP12_NS}}}Header")
    etree.SubElement(header, f"{{{WSA_NS}}}Action").text = action
    etree.SubElement(header, f"{{{WSA_NS}}}MessageID").text = message_id
    etree.SubElement(header, f"{{{WSA_NS}}}To").text = WSA_ANONYMOUS
    if relates_to:
        etree.SubElement(header, f"{{{WSA_NS}}}RelatesTo").text = relates_to
    etree.SubElement(env, f"{{{SOAP12_NS}}}Body").append(_detached_copy(body_el))
    return serialize(env)


def build_fault(
    fault: SoapFault,
    *,
    relates_to: str | None,
    message_id: str,
    subcode_namespace: str = SOAP12_NS,
    lang: str = "fr",
) -> bytes:
    """SOAP 1.2 Fault envelope. Subcodes are written in ``subcode_namespace`` (the DMP uses the soap prefix)."""
    env = etree.Element(f"{{{SOAP12_NS}}}Envelope", nsmap={"soap": SOAP12_NS, "wsa": WSA_NS, "sub": subcode_namespace})
    header = etree.SubElement(env, f"{{{SOAP12_NS}}}Header")
    etree.SubElement(header, f"{{{WSA_NS}}}Action").text = WSA_FAULT_ACTION
    etree.SubElement(header, f"{{{WSA_NS}}}MessageID").text = message_id
    if relates_to:
        etree.SubElement(header, f"{{{WSA_NS}}}RelatesTo").text = relates_to
    fault_el = etree.SubElement(etree.SubElement(env, f"{{{SOAP12_NS}}}Body"), f"{{{SOAP12_NS}}}Fault")
    code_el = etree.SubElement(fault_el, f"{{{SOAP12_NS}}}Code")
    etree.SubElement(code_el, f"{{{SOAP12_NS}}}Value").text = f"soap:{fault.code}"
    parent = code_el
    sub_prefix = "soap" if subcode_namespace == SOAP12_NS else "sub"
    for subcode in fault.subcodes:
        parent = etree.SubElement(parent, f"{{{SOAP12_NS}}}Subcode")
        etree.SubElement(parent, f"{{{SOAP12_NS}}}Value").text = f"{sub_prefix}:{subcode}"
    reason = etree.SubElement(fault_el, f"{{{SOAP12_NS}}}Reason")
    text = etree.SubElement(reason, f"{{{SOAP12_NS}}}Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", lang)
    text.text = fault.reason
    if fault.role:
        etree.SubElement(fault_el, f"{{{SOAP12_NS}}}Role").text = fault.role
    if fault.detail is not None:
        etree.SubElement(fault_el, f"{{{SOAP12_NS}}}Detail").text = fault.detail
    etree.cleanup_namespaces(env, keep_ns_prefixes=["soap", "sub"])
    return serialize(env)


def serialize(element: etree._Element) -> bytes:
    """UTF-8 bytes with an XML declaration. Never pretty-printed (the VIHF signature covers its whitespace)."""
    return _XML_DECLARATION + bytes(etree.tostring(element, encoding="UTF-8", xml_declaration=False))


def _assertion_element(assertion: etree._Element | bytes) -> etree._Element:
    if isinstance(assertion, bytes):
        try:
            assertion = xmldoc.parse(assertion)
        except xmldoc.XmlError as exc:
            raise DocumentBuildError(Problem.SOAP_BUILD, reason=f"VIHF assertion: {exc}") from exc
    if assertion.tag != f"{{{SAML2_NS}}}Assertion":
        raise DocumentBuildError(Problem.SOAP_BUILD, reason=f"expected saml2:Assertion, got {assertion.tag}")
    return _detached_copy(assertion)


def _detached_copy(element: etree._Element) -> etree._Element:
    """Deep copy without the tail text, so the caller's tree is not mutated and no stray text lands in ours."""
    clone = copy.deepcopy(element)
    clone.tail = None
    return clone


# ------------------------------------------------------------------------------------------------------- parsing


def parse_response(content_type: str, body: bytes) -> SoapResponse:
    """Parse a DMP answer: MTOM (multipart/related) or plain application/soap+xml (or SOAP 1.1 text/xml).

    Raises DeliveryError(SOAP_RESPONSE_INVALID) when it is not a readable SOAP envelope. A SOAP Fault or a
    RegistryResponse Failure is returned as data: error_mapping decides what it means.
    """
    media_type, _ = mtom.parse_content_type(content_type or "")
    attachments: dict[str, mtom.Part] = {}
    try:
        if media_type == "multipart/related":
            root_bytes, attachments = mtom.unpack(content_type, body)
        elif media_type in (SOAP12_CONTENT_TYPE, "text/xml", "application/xml", ""):
            root_bytes = body
        else:
            raise ValueError(f"unexpected Content-Type {content_type!r}")
        envelope = xmldoc.parse(root_bytes)  # SOAP 1.2 forbids a DTD anyway
    except (ValueError, mtom.MtomError) as exc:  # xmldoc.XmlError is a ValueError
        raise DeliveryError(Problem.SOAP_RESPONSE_INVALID, reason=str(exc)) from exc

    soap_ns = etree.QName(envelope).namespace
    if etree.QName(envelope).localname != "Envelope" or soap_ns not in (SOAP12_NS, SOAP11_NS):
        raise DeliveryError(
            Problem.SOAP_RESPONSE_INVALID, reason=f"root element is {envelope.tag}, not a SOAP Envelope"
        )
    header = envelope.find(f"{{{soap_ns}}}Header")
    body_el = envelope.find(f"{{{soap_ns}}}Body")
    if body_el is None:
        raise DeliveryError(Problem.SOAP_RESPONSE_INVALID, reason="SOAP Envelope without Body")
    payload = next(iter(body_el.iterchildren(etree.Element)), None)

    fault: SoapFault | None = None
    reg: RegistryResponse | None = None
    if payload is not None and payload.tag == f"{{{soap_ns}}}Fault":
        fault = _parse_fault12(payload) if soap_ns == SOAP12_NS else _parse_fault11(payload)
    elif payload is not None and registry_response.is_registry_response(payload):
        reg = registry_response.parse(payload)

    return SoapResponse(
        envelope=root_bytes,
        soap_version="1.2" if soap_ns == SOAP12_NS else "1.1",
        action=_header_text(header, "Action"),
        message_id=_header_text(header, "MessageID"),
        relates_to=_header_text(header, "RelatesTo"),
        fault=fault,
        registry_response=reg,
        payload=payload,
        attachments=attachments,
    )


def parse_provide_and_register(content_type: str, body: bytes) -> ProvideAndRegister:
    """Parse an ITI-41 MTOM request and resolve each xdsb:Document's xop:Include to its part bytes."""
    root_bytes, parts = mtom.unpack(content_type, body)
    envelope = xmldoc.parse(root_bytes)  # raises xmldoc.XmlError (a ValueError)
    header = envelope.find(f"{{{SOAP12_NS}}}Header")
    request_el = envelope.find(f"{{{SOAP12_NS}}}Body/{{{XDSB_NS}}}ProvideAndRegisterDocumentSetRequest")
    if request_el is None:
        raise ValueError("no SOAP 1.2 Body/xdsb:ProvideAndRegisterDocumentSetRequest")
    submit = request_el.find(f"{{{LCM_NS}}}SubmitObjectsRequest")
    if submit is None:
        raise ValueError("no lcm:SubmitObjectsRequest")
    documents: dict[str, bytes] = {}
    for doc_el in request_el.iterfind(f"{{{XDSB_NS}}}Document"):
        include = doc_el.find(f"{{{XOP_NS}}}Include")
        if include is None:
            raise ValueError(f"xdsb:Document {doc_el.get('id')} has no xop:Include")
        cid = mtom.content_id_from_href(include.get("href", ""))
        if cid not in parts:
            raise ValueError(f"xop:Include {cid} has no MIME part")
        documents[doc_el.get("id", "")] = parts[cid].data
    assertion = header.find(f"{{{WSSE_NS}}}Security/{{{SAML2_NS}}}Assertion") if header is not None else None
    return ProvideAndRegister(
        envelope=envelope,
        message_id=_header_text(header, "MessageID"),
        to=_header_text(header, "To"),
        action=_header_text(header, "Action"),
        assertion=assertion,
        submit_objects_request=submit,
        documents=documents,
    )


def _header_text(header: etree._Element | None, name: str) -> str | None:
    if header is None:
        return None
    el = header.find(f"{{{WSA_NS}}}{name}")
    return None if el is None else (el.text or "").strip()


def _qname_local(el: etree._Element | None) -> str:
    """``soap:Sender`` -> ``Sender`` (QName text content; the prefix is not needed to classify)."""
    if el is None or not el.text:
        return ""
    return str(el.text).strip().rpartition(":")[2]


def _parse_fault12(fault_el: etree._Element) -> SoapFault:
    ns = f"{{{SOAP12_NS}}}"
    code_el = fault_el.find(f"{ns}Code")
    code = _qname_local(code_el.find(f"{ns}Value")) if code_el is not None else ""
    subcodes: list[str] = []
    parent = code_el
    while parent is not None:
        parent = parent.find(f"{ns}Subcode")
        if parent is not None:
            subcodes.append(_qname_local(parent.find(f"{ns}Value")))
    texts = fault_el.findall(f"{ns}Reason/{ns}Text")
    reason = (texts[0].text or "").strip() if texts else ""
    detail_el = fault_el.find(f"{ns}Detail")
    role_el = fault_el.find(f"{ns}Role")
    return SoapFault(
        code=code or "Receiver",
        subcodes=tuple(s for s in subcodes if s),
        reason=reason,
        detail=_detail_text(detail_el),
        role=None if role_el is None else (role_el.text or "").strip(),
    )


def _parse_fault11(fault_el: etree._Element) -> SoapFault:
    code_raw = _qname_local(fault_el.find("faultcode"))
    # SOAP 1.1 "Client.Foo" / "Server.Foo" dotted subcodes
    head, _, rest = code_raw.partition(".")
    code = {"Client": "Sender", "Server": "Receiver"}.get(head, head or "Receiver")
    reason_el = fault_el.find("faultstring")
    return SoapFault(
        code=code,
        subcodes=tuple(s for s in rest.split(".") if s),
        reason=(reason_el.text or "").strip() if reason_el is not None else "",
        detail=_detail_text(fault_el.find("detail")),
    )


def _detail_text(detail_el: etree._Element | None) -> str | None:
    if detail_el is None:
        return None
    return " ".join(t.strip() for t in detail_el.itertext() if t.strip())
