"""DocumentReference.content -> the document bytes, and the header of a CDA supplied as content.

* the bytes come from ``attachment.data`` or from the Binary that ``attachment.url`` designates (fullUrl,
  ``Binary/id``); exactly one content per DocumentReference (one XDS DocumentEntry);
* the size limit is checked on the base64 length before decoding (a huge payload is never decoded);
  ``attachment.size`` and ``attachment.hash`` (SHA-1, base64), when given, must match the bytes;
* N1 media types (PDF, text, RTF, JPEG, TIFF) are wrapped; a CDA (XML whose root is ``ClinicalDocument``) is
  passed through; anything else is CONTENT_TYPE_NOT_ALLOWED. Inbound XML goes through ``facade.xmldoc``: a DOCTYPE
  or an entity is XML_FORBIDDEN_CONSTRUCT, XML that is not well-formed is CDA_INPUT_INVALID.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from facade import xmldoc
from facade.errors import Problem
from facade.fhir.parse import ParsedEntry
from facade.fhir.references import Resolved
from facade.mapping.context import MappingContext
from facade.model.document import Code, Patient
from facade.model.identifiers import is_ins_oid

HL7 = "urn:hl7-org:v3"
XSLT = "http://www.w3.org/1999/XSL/Transform"
_NS = {"hl7": HL7}


@dataclass(frozen=True)
class CdaHeader:
    """What the facade checks or reuses from a supplied CDA header."""

    id_root: str | None
    id_extension: str | None
    code: str | None
    code_system: str | None
    patient_ids: tuple[tuple[str, str], ...]  # recordTarget/patientRole/id (root, extension)
    template_ids: tuple[str, ...]
    set_id: str | None
    version: int | None
    nonxml_media_type: str | None
    root: etree._Element | None = field(default=None, compare=False, repr=False)  # the ClinicalDocument
    auto_presentable: bool = False  # an XSLT document embedding the ClinicalDocument (XDS mimeType xslt+xml)


@dataclass(frozen=True)
class Content:
    media_type: str  # normalised (no parameters, lower case)
    data: bytes
    expression: str  # FHIRPath of the element that carried the bytes
    cda: CdaHeader | None = None  # set when the content is a ClinicalDocument (passthrough)
    binary: Resolved | None = None


def media_type_of(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def read_content(doc: ParsedEntry, mc: MappingContext) -> Content | None:
    contents = [c for c in doc.raw.get("content") or [] if isinstance(c, dict)]
    if not contents:
        mc.report.add(Problem.MISSING_ELEMENT, expression=f"{doc.path}.content", element="DocumentReference.content")
        return None
    if len(contents) > 1:
        mc.report.add(
            Problem.INVALID_VALUE,
            expression=f"{doc.path}.content[1]",
            element="DocumentReference.content",
            reason="one content per DocumentReference (one XDS document); post other renditions separately",
        )
    base = f"{doc.path}.content[0].attachment"
    attachment = contents[0].get("attachment") or {}
    content_type = attachment.get("contentType")
    if not isinstance(content_type, str) or not content_type.strip():
        mc.report.add(Problem.MISSING_ELEMENT, expression=f"{base}.contentType", element="attachment.contentType")
    located = _locate_data(doc, attachment, base, mc)
    if located is None:
        return None
    b64, data_expr, binary = located
    if binary is not None and content_type and binary.raw.get("contentType"):
        if media_type_of(str(binary.raw["contentType"])) != media_type_of(content_type):
            mc.report.warn(
                Problem.INVALID_VALUE,
                expression=f"{binary.path}.contentType",
                element="Binary.contentType",
                reason=f"{binary.raw['contentType']} differs from attachment.contentType {content_type}; "
                "the attachment's is used",
            )
    data = _decode(b64, data_expr, mc)
    if data is None:
        return None
    _check_size_and_hash(attachment, data, base, mc)
    if not isinstance(content_type, str) or not content_type.strip():
        return None
    media = media_type_of(content_type)
    if media in mc.policy.allowed_media_types:
        return Content(media, data, data_expr, None, binary)
    if media in mc.policy.cda_media_types:
        header = read_cda_header(data, data_expr, f"{base}.contentType", media, mc)
        if header is not None and header.root is not None:
            check_stylesheet(header.root, data_expr, mc)
        return Content(media, data, data_expr, header, binary) if header else None
    mc.report.add(
        Problem.CONTENT_TYPE_NOT_ALLOWED,
        expression=f"{base}.contentType",
        content_type=content_type,
        accepted=_accepted_media(mc),
    )
    return None


def _accepted_media(mc: MappingContext) -> str:
    n1 = ", ".join(sorted(mc.policy.allowed_media_types))
    cda = ", ".join(sorted(mc.policy.cda_media_types))
    return f"{n1}; or a CDA R2 ClinicalDocument as {cda}"


def _locate_data(
    doc: ParsedEntry, attachment: dict[str, Any], base: str, mc: MappingContext
) -> tuple[str, str, Resolved | None] | None:
    data = attachment.get("data")
    if isinstance(data, str):
        return data, f"{base}.data", None
    url = attachment.get("url")
    if not isinstance(url, str) or not url:
        mc.report.add(Problem.MISSING_ELEMENT, expression=f"{base}.data", element="attachment.data or attachment.url")
        return None
    target = mc.resolver.resolve_url(url, doc)
    if target is None:
        mc.report.add(Problem.UNRESOLVED_REFERENCE, expression=f"{base}.url", reference=url)
        return None
    if target.resource_type != "Binary":
        mc.report.add(
            Problem.INVALID_VALUE,
            expression=f"{base}.url",
            element="attachment.url",
            reason=f"{url} is a {target.resource_type}; expected a Binary",
        )
        return None
    binary_data = target.raw.get("data")
    if not isinstance(binary_data, str):
        mc.report.add(Problem.MISSING_ELEMENT, expression=f"{target.path}.data", element="Binary.data")
        return None
    return binary_data, f"{target.path}.data", target


def _decode(b64: str, expression: str, mc: MappingContext) -> bytes | None:
    compact = "".join(b64.split())
    estimated = len(compact) * 3 // 4 - compact[-2:].count("=")
    if estimated > mc.policy.max_document_bytes:
        mc.report.add(
            Problem.CONTENT_TOO_LARGE,
            expression=expression,
            element=expression,
            size=estimated,
            limit=mc.policy.max_document_bytes,
        )
        return None
    try:
        data = strict_b64decode(compact)
    except (binascii.Error, ValueError) as exc:
        mc.report.add(Problem.INVALID_VALUE, expression=expression, element="base64Binary", reason=str(exc))
        return None
    if not data:
        mc.report.add(Problem.INVALID_VALUE, expression=expression, element="document content", reason="empty")
        return None
    return data


def strict_b64decode(text: str) -> bytes:
    """``base64.b64decode(text, validate=True)``, same errors and messages, without its ASCII copy of ``text``
    (binascii reads an ASCII str in place: 13 MB less for a 10 MiB PDF)."""
    if not text.isascii():
        raise ValueError("string argument should contain only ASCII characters")
    return binascii.a2b_base64(text, strict_mode=True)


def _check_size_and_hash(attachment: dict[str, Any], data: bytes, base: str, mc: MappingContext) -> None:
    size = attachment.get("size")
    if isinstance(size, int) and size != len(data):
        mc.report.add(
            Problem.INVALID_VALUE,
            expression=f"{base}.size",
            element="attachment.size",
            reason=f"{size} but the content is {len(data)} bytes",
        )
    digest = attachment.get("hash")
    if isinstance(digest, str):
        actual = base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode("ascii")
        if digest.strip() != actual:
            mc.report.add(
                Problem.INVALID_VALUE,
                expression=f"{base}.hash",
                element="attachment.hash",
                reason=f"{digest} is not the SHA-1 of the content ({actual})",
            )


def read_cda_header(data: bytes, data_expr: str, type_expr: str, media: str, mc: MappingContext) -> CdaHeader | None:
    try:  # large_text: the size was bounded (max_document_bytes) before decoding; an N1 CDA holds 14 MB of base64
        root = xmldoc.parse(data, large_text=True)
    except xmldoc.UnsafeXmlError as exc:
        mc.report.add(Problem.XML_FORBIDDEN_CONSTRUCT, expression=data_expr, reason=str(exc))
        return None
    except xmldoc.XmlLimitError as exc:  # bounded before any tree work (C14N, XSD): a limit, not a syntax error
        mc.report.add(Problem.XML_LIMIT, expression=data_expr, reason=str(exc))
        return None
    except xmldoc.MalformedXmlError as exc:
        mc.report.add(Problem.CDA_INPUT_INVALID, expression=data_expr, reason=f"not well-formed XML: {exc}")
        return None
    auto_presentable = root.tag == f"{{{XSLT}}}stylesheet"
    if auto_presentable:  # the ClinicalDocument is embedded in the XSLT (pdsm4dmp-lifecycle §1.5)
        embedded = next(root.iter(f"{{{HL7}}}ClinicalDocument"), None)
        root = embedded if embedded is not None else root
    if root.tag != f"{{{HL7}}}ClinicalDocument":
        mc.report.add(
            Problem.CONTENT_TYPE_NOT_ALLOWED,
            expression=type_expr,
            content_type=f"{media} with root element {root.tag} (not a CDA ClinicalDocument)",
            accepted=_accepted_media(mc),
        )
        return None

    def attr(xpath: str, name: str) -> str | None:
        found = root.xpath(xpath, namespaces=_NS)
        if isinstance(found, list) and found and isinstance(found[0], etree._Element):
            value = found[0].get(name)
            return str(value) if value is not None else None
        return None

    patient_ids = tuple(
        (str(el.get("root") or ""), str(el.get("extension") or ""))
        for el in root.xpath("hl7:recordTarget/hl7:patientRole/hl7:id", namespaces=_NS)
        if isinstance(el, etree._Element)
    )
    template_ids = tuple(
        str(el.get("root"))
        for el in root.xpath("hl7:templateId", namespaces=_NS)
        if isinstance(el, etree._Element) and el.get("root")
    )
    version_text = attr("hl7:versionNumber", "value")
    return CdaHeader(
        id_root=attr("hl7:id", "root"),
        id_extension=attr("hl7:id", "extension"),
        code=attr("hl7:code", "code"),
        code_system=attr("hl7:code", "codeSystem"),
        patient_ids=patient_ids,
        template_ids=template_ids,
        set_id=attr("hl7:setId", "root"),
        version=int(version_text) if version_text and version_text.isdigit() else None,
        nonxml_media_type=attr("hl7:component/hl7:nonXMLBody/hl7:text", "mediaType"),
        root=root,
        auto_presentable=auto_presentable,
    )


def check_stylesheet(cda: etree._Element, expression: str, mc: MappingContext) -> None:
    """An ``xml-stylesheet`` PI pointing at another file: the DMP displays a CDA with its own stylesheet (or an
    auto-presentable one, whose PI points at itself, ``href="#"``). Warned or refused (``policy.stylesheet_pi``);
    never removed: the bytes of a ready-made CDA are sent as received. Editor PIs (``<?oxygen ...?>``) are harmless."""
    document_root = cda.getroottree().getroot()
    for node in document_root.itersiblings(preceding=True):
        if not isinstance(node, etree._ProcessingInstruction) or node.target != "xml-stylesheet":
            continue
        href = str(node.get("href") or "")
        if href.startswith("#"):
            continue
        reason = (
            f'<?xml-stylesheet href="{href}"?> points at a separate stylesheet the DMP does not have: remove the '
            "processing instruction, or send an auto-presentable CDA"
        )
        if mc.policy.stylesheet_pi == "refuse":
            mc.report.add(Problem.CDA_INPUT_INVALID, expression=expression, reason=reason)
        else:
            mc.report.warn(Problem.CDA_INPUT_INVALID, expression=expression, reason=f"{reason} (sent unchanged)")


def check_cda_header(
    p: str,
    header: CdaHeader,
    unique_id: str | None,
    type_code: Code | None,
    patient: Patient | None,
    mc: MappingContext,
) -> None:
    """A CDA passed through must agree with its DocumentReference (uniqueId, typeCode, the patient's INS)."""
    data_expr = f"{p}.content[0].attachment"
    if header.id_extension:
        mc.report.add(
            Problem.CDA_INPUT_INVALID,
            expression=data_expr,
            reason=f"ClinicalDocument/id has an extension ({header.id_extension}): the DMP needs a bare OID",
        )
    if unique_id is not None and header.id_root != unique_id:
        mc.report.add(
            Problem.CDA_HEADER_MISMATCH,
            expression=f"{p}.masterIdentifier",
            element="DocumentReference.masterIdentifier",
            fhir_value=f"urn:oid:{unique_id}",
            cda_value=f"ClinicalDocument/id/@root={header.id_root}",
        )
    if type_code is not None and header.code != type_code.code:
        mc.report.add(
            Problem.CDA_HEADER_MISMATCH,
            expression=f"{p}.type",
            element="DocumentReference.type",
            fhir_value=type_code.code,
            cda_value=f"ClinicalDocument/code/@code={header.code}",
        )
    if patient is None:
        return
    ins = patient.ins
    if (ins.oid, ins.value) not in header.patient_ids:
        cda_ins = [f"{r}|{e}" for r, e in header.patient_ids if is_ins_oid(r)]
        mc.report.add(
            Problem.CDA_HEADER_MISMATCH,
            expression=f"{p}.subject",
            element="DocumentReference.subject (Patient INS)",
            fhir_value=f"{ins.oid}|{ins.value}",
            cda_value=f"recordTarget/patientRole/id={', '.join(cda_ins) or '(no INS)'}",
        )


__all__ = [
    "CdaHeader",
    "Content",
    "check_cda_header",
    "check_stylesheet",
    "media_type_of",
    "read_cda_header",
    "read_content",
]
