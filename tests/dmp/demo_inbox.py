"""What a running `facade demo`'s simulator received, read over its admin API (mutual TLS, the demo's ORG AUTH
certificate) and checked against the kit: each ITI-18, ITI-57, ITI-43 and TD0.2 body passes the kit's XSDs and has
the official sample's WS-A Action, query ids, slot names and status URNs. Also the banner's curl commands, run as
curl would (a vendor pastes them)."""

from __future__ import annotations

import shlex
import ssl
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from lxml import etree

from facade import xmldoc
from facade.pki import TestPki
from tests.dmp.test_patient_status import hl7v3_schema, sample_body, shape
from tests.e2e.received import xmlsec_verifies_vihf

WSA = "{http://www.w3.org/2005/08/addressing}"
RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
LCM = "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}"
XDSB = "{urn:ihe:iti:xds-b:2007}"
ITI18 = "urn:ihe:iti:2007:RegistryStoredQuery"
ITI57 = "urn:ihe:iti:2010:UpdateDocumentSet"
ITI43 = "urn:ihe:iti:2007:RetrieveDocumentSet"
TD02 = "urn:hl7-org:v3:PRPA_IN201307UV02"
ITI41 = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"
STATUS_URNS = {APPROVED, ARCHIVED, DELETED, "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"}


# --- the banner's commands ------------------------------------------------------------------------------------


def curl_commands(banner: str) -> list[list[str]]:
    """Every ``curl`` command of the banner, continuation lines joined, split as a POSIX shell would."""
    joined = banner.replace("\\\n", " ")
    return [shlex.split(line.strip()) for line in joined.splitlines() if line.strip().startswith("curl ")]


def run_curl(argv: list[str]) -> httpx.Response:
    """The request curl would send for the options the banner uses (-s, -X, -H, -d, --data-binary @file)."""
    method, url, headers, data = "", "", {}, None
    args = iter(argv[1:])
    for arg in args:
        if arg == "-X":
            method = next(args)
        elif arg == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip()
        elif arg in ("-d", "--data-binary"):
            value = next(args)
            data = Path(value[1:]).read_bytes() if value.startswith("@") else value.encode()
        elif arg != "-s":
            url = arg
    method = method or ("POST" if data is not None else "GET")
    return httpx.request(method, url, headers=headers, content=data, timeout=60)


# --- the simulator's admin API --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    action: str
    envelope: etree._Element

    @property
    def payload(self) -> etree._Element:
        body = self.envelope.find("{http://www.w3.org/2003/05/soap-envelope}Body")
        assert body is not None
        return next(c for c in body if isinstance(c.tag, str))


def admin_client(pki: TestPki) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.load_cert_chain(str(pki.auth_cert), str(pki.auth_key))
    return httpx.Client(verify=ctx, timeout=30)


def received(pki: TestPki, simulator_url: str) -> dict[str, list[Received]]:
    """Every plain SOAP request of the inbox by WS-A Action (ITI-41, MTOM, is listed by action with no envelope)."""
    out: dict[str, list[Received]] = defaultdict(list)
    with admin_client(pki) as client:
        for item in client.get(f"{simulator_url}/_simulator/requests").json():
            raw = client.get(f"{simulator_url}/_simulator/requests/{item['n']}").content
            head, _, body = raw.partition(b"\r\n\r\n")
            content_type = next(ln for ln in head.lower().split(b"\r\n") if ln.startswith(b"content-type:"))
            if b"multipart/related" in content_type:
                assert ITI41.encode() in body
                out[ITI41].append(Received(ITI41, etree.Element("mtom")))
                continue
            envelope = xmldoc.parse(body)
            action = (envelope.findtext(f"{{*}}Header/{WSA}Action") or "").strip()
            out[action].append(Received(action, envelope))
    return dict(out)


def documents(pki: TestPki, simulator_url: str) -> list[dict[str, Any]]:
    with admin_client(pki) as client:
        return list(client.get(f"{simulator_url}/_simulator/documents").json())


# --- the checks against the kit ---------------------------------------------------------------------------------


def _official(kit: Path, name: str) -> etree._Element:
    return xmldoc.parse((kit / "examples" / "dmp" / name).read_bytes())


def _header_names(envelope: etree._Element) -> list[str]:
    header = envelope.find("{*}Header")
    assert header is not None
    return [etree.QName(c).localname for c in header if isinstance(c.tag, str)]


def _slots(el: etree._Element) -> list[tuple[str, list[str]]]:
    return [(s.get("name") or "", [v.text or "" for v in s.iter(f"{RIM}Value")]) for s in el.findall(f"{RIM}Slot")]


# the kit's schema (validate.py's key) for each body; TD0.2's HL7v3 is checked with its own XSD (check_td02)
KIT_SCHEMA = {ITI18: "query", ITI57: "lcm", ITI43: "xds"}


def check_common(request: Received, kit_validator: Any, ca_cert: Path) -> None:
    """Every plain request: the VIHF in AIR mode, signed by the demo's PKI (libxmlsec1); its body valid per the
    kit's XSD (validate.py: ebRS query / lcm, XDS.b)."""
    assert xmlsec_verifies_vihf(request.envelope, ca_cert)
    assert b"INDIRECTE_RENFORCEE" in etree.tostring(request.envelope)
    if request.action == TD02:
        return  # validate.py reads urn:hl7-org:v3 as CDA: the message's own HL7v3 XSD in check_td02
    used, errors = kit_validator.validate_xsd(request.envelope)
    assert (used, errors) == (KIT_SCHEMA[request.action], []), (request.action, used, errors)


def check_iti18(queries: list[Received], kit: Path) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """ITI-18: the TD3.1 sample's header; FindDocuments with the sample's slot names; GetDocuments by uniqueId;
    status values among the JDV_J52 URNs. Returns (query id, slots) per request."""
    official = _official(kit, "TD3.1_recherche_document_request.xml")
    sample_query = official.find(f"{{*}}Body/*/{RIM}AdhocQuery")
    assert sample_query is not None
    out = []
    for request in queries:
        assert _header_names(request.envelope) == _header_names(official)
        query = request.payload.find(f"{RIM}AdhocQuery")
        assert query is not None
        slots = _slots(query)
        if query.get("id") == FIND_DOCUMENTS:
            assert [n for n, _ in slots] == [n for n, _ in _slots(sample_query)]
            (statuses,) = [v for n, v in slots if n == "$XDSDocumentEntryStatus"]
            assert {u.strip("'") for u in statuses[0].strip("()").split(",")} <= STATUS_URNS
        else:
            assert query.get("id") == GET_DOCUMENTS and [n for n, _ in slots] == ["$XDSDocumentEntryUniqueId"]
        out.append((query.get("id") or "", slots))
    return out


def check_iti57(updates: list[Received], kit: Path) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """ITI-57: the TD3.3d sample's header and Association form (slot names, status URNs). Returns (association
    type, slots) per request."""
    official = _official(kit, "TD3.3d_archiver_document_request.xml")
    sample = official.find(f"{{*}}Body/{LCM}SubmitObjectsRequest/{RIM}RegistryObjectList/{RIM}Association")
    assert sample is not None
    out = []
    for request in updates:
        assert _header_names(request.envelope) == _header_names(official)
        assert request.payload.tag == f"{LCM}SubmitObjectsRequest"
        association = request.payload.find(f"{RIM}RegistryObjectList/{RIM}Association")
        assert association is not None
        kind = association.get("associationType") or ""
        if kind == sample.get("associationType"):
            assert [n for n, _ in _slots(association)] == [n for n, _ in _slots(sample)]
            assert {v for _, values in _slots(association) for v in values} <= STATUS_URNS
        out.append((kind, _slots(association)))
    return out


def check_iti43(retrieves: list[Received], kit: Path) -> list[str]:
    """ITI-43: RetrieveDocumentSetRequest valid per the kit's XDS.b repository XSD. Returns the uniqueIds asked."""
    schema = etree.XMLSchema(etree.parse(str(kit / "schemas/dmp-wsdl/schema/IHE/XDS.b_DocumentRepository.xsd")))
    asked = []
    for request in retrieves:
        assert schema.validate(request.payload), schema.error_log
        asked.append(request.payload.findtext(f"{XDSB}DocumentRequest/{XDSB}DocumentUniqueId") or "")
    return asked


def check_td02(tests: list[Received], kit: Path) -> None:
    """TD0.2: PRPA_IN201307UV02 valid per the kit's HL7v3 XSD, with the GIE sample's header and body shape."""
    official = _official(kit, "TD0.2_test_existence_request.xml")
    schema = hl7v3_schema(kit, "PRPA_IN201307UV02")
    for request in tests:
        assert _header_names(request.envelope) == _header_names(official)
        assert schema.validate(request.payload), schema.error_log
        assert shape(request.payload) == shape(sample_body(kit, "TD0.2_test_existence_request.xml"))
