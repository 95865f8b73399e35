"""SOAP 1.2 + WS-Addressing as the DMP repository speaks it: read the request envelope, write responses.

Responses follow the GIE TD2.1 response sample (examples/dmp/TD2.1_alimentation_response.xml): wsa Action
``...ProvideAndRegisterDocumentSet-bResponse``, MessageID, To anonymous, RelatesTo = request MessageID, body
``rs:RegistryResponse``. Faults are SOAP 1.2 ``env:Fault`` (Code/Value, Subcode/Value, Reason/Text xml:lang="fr")
with the WS-A fault action; HTTP status per the SOAP 1.2 HTTP binding (Sender 400, the others 500).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from lxml import etree

from facade import xmldoc
from facade.soap.registry_response import RegistryError, RegistryResponse
from facade.soap.registry_response import build as build_registry_response

SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSA_NS = "http://www.w3.org/2005/08/addressing"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XML_NS = "http://www.w3.org/XML/1998/namespace"

PNR_ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
PNR_RESPONSE_ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
WSA_FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"
WSA_ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"

SOAP_CONTENT_TYPE = "application/soap+xml; charset=UTF-8"


@dataclass(frozen=True)
class FaultSubcode:
    namespace: str
    local: str
    prefix: str


# SOAP Fault subcodes. DMPInvalidCertificate is the DMP's (spec §8, written soap:DMPInvalidCertificate, i.e. in the
# envelope namespace); DMPInvalidVIHF is the simulator's name for the other VIHF rejections (the DMP's own subcode
# for those is not documented in the sources found); the wsa: ones are WS-Addressing 1.0 SOAP binding §6.4.
DMP_INVALID_CERTIFICATE = FaultSubcode(SOAP12_NS, "DMPInvalidCertificate", "soap")
DMP_INVALID_VIHF = FaultSubcode(SOAP12_NS, "DMPInvalidVIHF", "soap")
WSA_ACTION_NOT_SUPPORTED = FaultSubcode(WSA_NS, "ActionNotSupported", "wsa")
WSA_HEADER_REQUIRED = FaultSubcode(WSA_NS, "MessageAddressingHeaderRequired", "wsa")
WSA_INVALID_HEADER = FaultSubcode(WSA_NS, "InvalidAddressingHeader", "wsa")
WSA_ONLY_ANONYMOUS = FaultSubcode(WSA_NS, "OnlyAnonymousAddressSupported", "wsa")


class SoapFault(Exception):
    """Raised anywhere in request processing; answered as a SOAP 1.2 Fault."""

    def __init__(self, code: str, reason: str, subcode: FaultSubcode | None = None) -> None:
        if code not in ("Sender", "Receiver", "VersionMismatch", "MustUnderstand", "DataEncodingUnknown"):
            raise ValueError(f"not a SOAP 1.2 fault code: {code}")
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.subcode = subcode

    @property
    def http_status(self) -> int:
        return 400 if self.code == "Sender" else 500


@dataclass(frozen=True)
class RequestEnvelope:
    root: etree._Element
    header: etree._Element
    body: etree._Element
    message_id: str
    action: str
    reply_to: str | None
    security: etree._Element | None = field(default=None)


def parse_xml(data: bytes, what: str, *, large_text: bool = False) -> etree._Element:
    """Inbound XML through facade.xmldoc (the hardened parser is shared: what the simulator checks independently is
    the DMP's rules, not libxml2's settings); its errors become Sender faults in the DMP's language."""
    try:
        return xmldoc.parse(data, large_text=large_text)
    except xmldoc.UnsafeXmlError as exc:
        raise SoapFault("Sender", f"{what} : DOCTYPE, DTD ou entité interdits ({exc})") from exc
    except xmldoc.MalformedXmlError as exc:
        raise SoapFault("Sender", f"{what} n'est pas un XML bien formé : {exc}") from exc


def read_envelope(
    root: etree._Element, *, understood_headers: frozenset[str], actions: frozenset[str] = frozenset({PNR_ACTION})
) -> RequestEnvelope:
    """Check the SOAP 1.2 envelope and the WS-Addressing headers of a request to a service serving ``actions``."""
    if etree.QName(root).namespace != SOAP12_NS:
        ns = etree.QName(root).namespace
        version = "SOAP 1.1" if ns == SOAP11_NS else repr(ns)
        raise SoapFault("VersionMismatch", f"Enveloppe {version} reçue ; SOAP 1.2 ({SOAP12_NS}) attendu")
    if etree.QName(root).localname != "Envelope":
        raise SoapFault("Sender", "L'élément racine n'est pas soap:Envelope")
    header = root.find(f"{{{SOAP12_NS}}}Header")
    body = root.find(f"{{{SOAP12_NS}}}Body")
    if body is None:
        raise SoapFault("Sender", "soap:Body absent")
    if header is None:
        raise SoapFault("Sender", "soap:Header absent (WS-Addressing et VIHF requis)", WSA_HEADER_REQUIRED)

    for block in header:
        if not isinstance(block.tag, str):
            continue
        must = block.get(f"{{{SOAP12_NS}}}mustUnderstand")
        if must in ("true", "1") and block.tag not in understood_headers:
            raise SoapFault("MustUnderstand", f"En-tête {block.tag} non compris")

    def one(local: str) -> etree._Element | None:
        found = header.findall(f"{{{WSA_NS}}}{local}")
        if len(found) > 1:
            raise SoapFault("Sender", f"wsa:{local} présent {len(found)} fois", WSA_INVALID_HEADER)
        return found[0] if found else None

    action_el, message_id_el, reply_to_el = one("Action"), one("MessageID"), one("ReplyTo")
    if action_el is None or not (action_el.text or "").strip():
        raise SoapFault("Sender", "wsa:Action absent", WSA_HEADER_REQUIRED)
    action = (action_el.text or "").strip()
    if action not in actions:
        served = ", ".join(sorted(actions))
        raise SoapFault("Sender", f"Action {action} non supportée par ce service ({served})", WSA_ACTION_NOT_SUPPORTED)
    if message_id_el is None or not (message_id_el.text or "").strip():
        raise SoapFault("Sender", "wsa:MessageID absent", WSA_HEADER_REQUIRED)
    if reply_to_el is None:
        raise SoapFault("Sender", "wsa:ReplyTo absent", WSA_HEADER_REQUIRED)
    address = reply_to_el.find(f"{{{WSA_NS}}}Address")
    reply_to = (address.text or "").strip() if address is not None else None
    if reply_to != WSA_ANONYMOUS:
        raise SoapFault("Sender", f"wsa:ReplyTo/Address doit être {WSA_ANONYMOUS}", WSA_ONLY_ANONYMOUS)
    security = header.find(f"{{{WSSE_NS}}}Security")
    return RequestEnvelope(root, header, body, (message_id_el.text or "").strip(), action, reply_to, security)


def best_effort_message_id(root_xml: bytes) -> str | None:
    """The request MessageID for RelatesTo, when the envelope can be read at all."""
    try:
        root = xmldoc.parse(root_xml)
    except xmldoc.XmlError:
        return None
    found = root.find(f"{{*}}Header/{{{WSA_NS}}}MessageID")
    text = (found.text or "").strip() if found is not None else ""
    return text or None


def response_envelope(action: str, relates_to: str | None) -> tuple[etree._Element, etree._Element]:
    env = etree.Element(f"{{{SOAP12_NS}}}Envelope", nsmap={"soap": SOAP12_NS})
    header = etree.SubElement(env, f"{{{SOAP12_NS}}}Header")
    for local, text in (
        ("Action", action),
        ("MessageID", f"urn:uuid:{uuid.uuid4()}"),
        ("To", WSA_ANONYMOUS),
        ("RelatesTo", relates_to),
    ):
        if text is not None:
            etree.SubElement(header, f"{{{WSA_NS}}}{local}", nsmap={None: WSA_NS}).text = text
    body = etree.SubElement(env, f"{{{SOAP12_NS}}}Body")
    return env, body


def registry_response(errors: Sequence[RegistryError], relates_to: str | None) -> bytes:
    """rs:RegistryResponse (built by facade.soap.registry_response): Success when no error-severity item (warnings
    ride along), else Failure."""
    response = (
        RegistryResponse.failure(*errors)
        if any(e.is_error for e in errors)
        else RegistryResponse.success(tuple(errors))
    )
    env, body = response_envelope(PNR_RESPONSE_ACTION, relates_to)
    body.append(build_registry_response(response))
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def fault_response(fault: SoapFault, relates_to: str | None) -> bytes:
    env, body = response_envelope(WSA_FAULT_ACTION, relates_to)
    f = etree.SubElement(body, f"{{{SOAP12_NS}}}Fault")
    code = etree.SubElement(f, f"{{{SOAP12_NS}}}Code")
    etree.SubElement(code, f"{{{SOAP12_NS}}}Value").text = f"soap:{fault.code}"
    if fault.subcode is not None:
        sub = etree.SubElement(code, f"{{{SOAP12_NS}}}Subcode")
        value = etree.SubElement(sub, f"{{{SOAP12_NS}}}Value", nsmap={fault.subcode.prefix: fault.subcode.namespace})
        value.text = f"{fault.subcode.prefix}:{fault.subcode.local}"
    reason = etree.SubElement(f, f"{{{SOAP12_NS}}}Reason")
    text = etree.SubElement(reason, f"{{{SOAP12_NS}}}Text")
    text.set(f"{{{XML_NS}}}lang", "fr")
    text.text = fault.reason
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def mtom_response(envelope: bytes, action: str) -> tuple[str, bytes]:
    """The envelope as the single root part of a multipart/related (XOP) message, as MTOM-enabled DMP front ends
    answer; the facade must read both shapes."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    cid = f"root.{uuid.uuid4().hex}@simulateur-dmp"
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; start="<{cid}>"; '
        f'start-info="application/soap+xml"; action="{action}"'
    )
    head = (
        f"--{boundary}\r\n"
        f'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"; action="{action}"\r\n'
        "Content-Transfer-Encoding: binary\r\n"
        f"Content-ID: <{cid}>\r\n\r\n"
    ).encode("ascii")
    return content_type, head + envelope + f"\r\n--{boundary}--\r\n".encode("ascii")
