"""An independent reading of what the simulator received: ``STATE/inbox/<n>.http`` parsed here with bytes
operations and lxml only (no facade or simulator parser), and the signatures checked with libxmlsec1
(python-xmlsec) and hashlib. Used to prove the bytes on the wire are right, not that our code agrees with itself."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import xmlsec
from lxml import etree

NS = {
    "soap": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "saml2": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xdsb": "urn:ihe:iti:xds-b:2007",
    "lcm": "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0",
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
    "xop": "http://www.w3.org/2004/08/xop/include",
}
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False)


def parse_xml(data: bytes) -> etree._Element:
    tree = etree.parse(io.BytesIO(data), _PARSER)
    assert tree.docinfo.doctype == "", "a DOCTYPE in a received message"
    return tree.getroot()


@dataclass(frozen=True)
class Part:
    headers: dict[str, str]  # lower-cased names
    data: bytes


@dataclass(frozen=True)
class Entry:
    """One ExtrinsicObject with the bytes of its xdsb:Document."""

    id: str
    unique_id: str
    hash: str
    size: int
    data: bytes


@dataclass(frozen=True)
class ReceivedRequest:
    request_line: str
    headers: dict[str, str]
    parts: dict[str, Part]  # Content-ID without <> -> part
    root: Part
    envelope: etree._Element

    @classmethod
    def read(cls, path: Path) -> ReceivedRequest:
        raw = path.read_bytes()
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (ln.partition(":") for ln in lines[1:])}
        assert int(headers["content-length"]) == len(body)
        content_type = headers["content-type"]
        boundary = _param(content_type, "boundary")
        parts: dict[str, Part] = {}
        # RFC 2046: every delimiter is CRLF "--" boundary; the CRLF before it belongs to the delimiter
        for segment in (b"\r\n" + body).split(b"\r\n--" + boundary.encode())[1:]:
            if segment.startswith(b"--"):
                break
            segment = segment.split(b"\r\n", 1)[1]  # the rest of the delimiter line
            part_head, _, data = segment.partition(b"\r\n\r\n")
            part_headers = {
                n.strip().lower(): v.strip()
                for n, _, v in (ln.partition(":") for ln in part_head.decode("latin-1").split("\r\n"))
            }
            parts[part_headers["content-id"].strip("<>")] = Part(part_headers, data)
        root = parts[_param(content_type, "start").strip("<>")]
        return cls(lines[0], headers, parts, root, parse_xml(root.data))

    @property
    def assertion(self) -> etree._Element:
        found = self.envelope.find("soap:Header/wsse:Security/saml2:Assertion", NS)
        assert found is not None
        return found

    @property
    def submission_set_unique_id(self) -> str:
        values = self.envelope.xpath(
            "//rim:RegistryPackage/rim:ExternalIdentifier[@identificationScheme=$s]/@value",
            namespaces=NS,
            s=SS_UNIQUE_ID,
        )
        assert len(values) == 1
        return str(values[0])

    def entries(self) -> list[Entry]:
        out = []
        for eo in self.envelope.iterfind(".//rim:ExtrinsicObject", NS):
            eo_id = eo.get("id", "")
            documents = self.envelope.xpath("//xdsb:Document[@id=$i]", namespaces=NS, i=eo_id)
            assert len(documents) == 1, f"one xdsb:Document for {eo_id}"
            include = documents[0].find("xop:Include", NS)
            assert include is not None
            data = self.parts[include.get("href", "").removeprefix("cid:")].data
            out.append(
                Entry(
                    eo_id,
                    _external_id(eo, DE_UNIQUE_ID),
                    _slot(eo, "hash"),
                    int(_slot(eo, "size")),
                    data,
                )
            )
        return out


def _param(content_type: str, name: str) -> str:
    m = re.search(rf';\s*{name}="?([^";]+)"?', content_type)
    assert m, f"no {name} in {content_type}"
    return m.group(1)


def _slot(eo: etree._Element, name: str) -> str:
    values = eo.xpath("rim:Slot[@name=$n]/rim:ValueList/rim:Value/text()", namespaces=NS, n=name)
    assert len(values) == 1, f"slot {name}"
    return str(values[0])


def _external_id(eo: etree._Element, scheme: str) -> str:
    values = eo.xpath("rim:ExternalIdentifier[@identificationScheme=$s]/@value", namespaces=NS, s=scheme)
    assert len(values) == 1
    return str(values[0])


# --- signatures -----------------------------------------------------------------------------------------------


def signing_certificate_der(signature: etree._Element) -> bytes:
    text = signature.findtext(".//ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)
    assert text
    return base64.b64decode(text)


def xmlsec_verifies_vihf(envelope: etree._Element, ca_cert: Path) -> bool:
    """libxmlsec1 over the assertion in place (inside the received envelope), signer chained to ``ca_cert``."""
    xmlsec.tree.add_ids(envelope, ["ID"])
    signature = envelope.find("soap:Header/wsse:Security/saml2:Assertion/ds:Signature", NS)
    assert signature is not None
    return _verify(signature, ca_cert)


@contextmanager
def serving(documents: Mapping[str, bytes]) -> Iterator[None]:
    """libxmlsec1 reads ``urn:oid:<uniqueId>`` URIs from ``documents`` and nothing else (no file, no network)."""
    xmlsec.cleanup_callbacks()
    xmlsec.register_callbacks(
        lambda uri: uri.startswith(b"urn:oid:"),
        lambda uri: io.BytesIO(documents.get(uri.decode().removeprefix("urn:oid:"), b"")),
        lambda f, buf: f.readinto(buf),
        lambda f: f.close(),
    )
    try:
        yield
    finally:
        xmlsec.cleanup_callbacks()
        xmlsec.register_default_callbacks()


def xmlsec_verifies_lot(xades: bytes, ca_cert: Path, documents: Mapping[str, bytes]) -> bool:
    """libxmlsec1: SignedInfo (the Manifest and SignedProperties references) and the signer's chain."""
    root = parse_xml(xades)
    xmlsec.tree.add_ids(root, ["Id"])
    with serving(documents):
        return _verify(root, ca_cert)


def _verify(signature: etree._Element, ca_cert: Path) -> bool:
    manager = xmlsec.KeysManager()
    manager.load_cert(str(ca_cert), xmlsec.constants.KeyDataFormatCertPem, xmlsec.constants.KeyDataTypeTrusted)
    try:
        xmlsec.SignatureContext(manager).verify(signature)  # type: ignore[call-arg]  # stub lacks the manager
    except xmlsec.Error:
        return False
    return True


def manifest_digests(xades: bytes) -> dict[str, tuple[str, str]]:
    """Manifest reference URI -> (DigestMethod algorithm, DigestValue)."""
    root = parse_xml(xades)
    out = {}
    for ref in root.iterfind("ds:Object/ds:Manifest/ds:Reference", NS):
        method = ref.find("ds:DigestMethod", NS)
        assert method is not None
        out[ref.get("URI", "")] = (method.get("Algorithm", ""), ref.findtext("ds:DigestValue", namespaces=NS) or "")
    return out


def c14n_with_comments_sha1(document: bytes) -> str:
    canonical = etree.tostring(parse_xml(document).getroottree(), method="c14n", with_comments=True)
    return base64.b64encode(hashlib.sha1(canonical).digest()).decode()  # noqa: S324 (the lot digest is SHA-1)


def raw_sha1(document: bytes) -> str:
    return base64.b64encode(hashlib.sha1(document).digest()).decode()  # noqa: S324
