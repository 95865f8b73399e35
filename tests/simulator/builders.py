"""Test-side ITI-41 request builder for the simulator tests.

The ebRIM metadata is written here from the GIE TD2.1 sample shape (examples/dmp/README.md) with knobs to break
one rule at a time; the VIHF comes from facade.soap.saml.VihfSigner (or a raw signxml signature for tokens the
signer refuses to produce), the XAdES lot signature from facade.soap.xades.LotSigner, the envelope + MTOM from
facade.soap.envelope. The end-to-end tests with the facade's own metadata builder live in test_end_to_end.py.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from lxml import etree
from signxml import CanonicalizationMethod, SignatureConstructionMethod, XMLSigner

from facade.credentials import Credential
from facade.soap.envelope import SoapRequest, build_provide_and_register
from facade.soap.saml import VihfSigner
from facade.soap.vihf_claims import AUTOMATE, Role, VihfClaims

LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
CDA = "urn:hl7-org:v3"

INS = "279035121518989"  # ANS example test NIR (key 89)
INS_OID = "1.2.250.1.213.1.4.10"
STRUCTURE_ID = "10B0127189"
XMLDSIG = "http://www.w3.org/2000/09/xmldsig#"


def patient_cx(ins: str = INS, oid: str = INS_OID) -> str:
    return f"{ins}^^^&{oid}&ISO^NH"


@dataclass
class Doc:
    entry_id: str
    unique_id: str
    data: bytes
    class_code: tuple[str, str] = ("10", "1.2.250.1.213.1.1.4.1")
    type_code: tuple[str, str] = ("11488-4", "2.16.840.1.113883.6.1")
    format_code: tuple[str, str] = ("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3")
    confidentiality: tuple[tuple[str, str], ...] = (("N", "2.16.840.1.113883.5.25"),)
    facility: tuple[str, str] = ("SA01", "1.2.250.1.71.4.2.4")
    practice: tuple[str, str] = ("ETABLISSEMENT", "1.2.250.1.213.1.1.4.9")
    patient_id: str = field(default_factory=patient_cx)
    hash: str | None = None  # slot value; "auto" = the SHA-1 of data
    size: str | None = None  # slot value; "auto" = len(data)
    event: tuple[str, str] | None = None
    object_type: str = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"


def cda(unique_id: str, *, ins: str = INS, oid: str = INS_OID, extension: str | None = None) -> bytes:
    """A small CDA R2 (the simulator reads id and recordTarget; schema conformance is the facade's business)."""
    ext = f' extension="{extension}"' if extension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="{CDA}">'
        '<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>'
        f'<id root="{unique_id}"{ext}/><code code="11488-4" codeSystem="2.16.840.1.113883.6.1"/>'
        "<title>CR de consultation</title>"
        f'<recordTarget><patientRole><id root="{oid}" extension="{ins}"/></patientRole></recordTarget>'
        '<component><nonXMLBody><text mediaType="text/plain" representation="B64">Qm9uam91cg==</text>'
        "</nonXMLBody></component></ClinicalDocument>\n"
    ).encode()


def new_oid(root: str = "1.2.250.1.999.7") -> str:
    return f"{root}.{uuid.uuid4().int % 10**18}"


@dataclass
class Submission:
    ss_unique_id: str = field(default_factory=new_oid)
    source_id: str = "1.2.250.1.999.1.1.7898"
    patient_id: str = field(default_factory=patient_cx)
    content_type: tuple[str, str] = ("04", "1.2.250.1.213.2.2")
    documents: list[Doc] = field(default_factory=list)
    rplc: list[tuple[str, str]] = field(default_factory=list)  # (new entry id, old entryUUID)
    with_signature: bool = True
    signature_unique_id: str = field(default_factory=new_oid)
    has_member: bool = True

    @classmethod
    def single(cls, **doc_options: object) -> Submission:
        uid = new_oid()
        data = doc_options.pop("data", None) or cda(uid)
        return cls(documents=[Doc("Document01", uid, data, **doc_options)])  # type: ignore[arg-type]


def _slot(parent: etree._Element, name: str, *values: str) -> None:
    slot = etree.SubElement(parent, f"{{{RIM}}}Slot", name=name)
    vl = etree.SubElement(slot, f"{{{RIM}}}ValueList")
    for v in values:
        etree.SubElement(vl, f"{{{RIM}}}Value").text = v


def _name(parent: etree._Element, text: str) -> None:
    name = etree.SubElement(parent, f"{{{RIM}}}Name")
    etree.SubElement(name, f"{{{RIM}}}LocalizedString", value=text, charset="UTF8")


def _classification(
    parent: etree._Element, obj: str, scheme: str, code: str, system: str | None, display: str = "x"
) -> etree._Element:
    c = etree.SubElement(
        parent,
        f"{{{RIM}}}Classification",
        id=f"cl-{uuid.uuid4()}",
        classificationScheme=scheme,
        classifiedObject=obj,
        nodeRepresentation=code,
    )
    if system is not None:
        _slot(c, "codingScheme", system)
    _name(c, display)
    return c


def _author(parent: etree._Element, obj: str, scheme: str) -> None:
    c = etree.SubElement(
        parent,
        f"{{{RIM}}}Classification",
        id=f"cl-{uuid.uuid4()}",
        classificationScheme=scheme,
        classifiedObject=obj,
        nodeRepresentation="",
    )
    _slot(c, "authorPerson", "801234567897^MEDECIN^PAUL^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS")
    _slot(c, "authorSpecialty", "G15_10/SM26^Médecin - Qualifié en Médecine Générale (SM)^1.2.250.1.213.1.1.4.5")
    _slot(c, "authorInstitution", f"CH DE DEMONSTRATION^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^{STRUCTURE_ID}")


def _external(parent: etree._Element, obj: str, scheme: str, value: str, name: str) -> None:
    e = etree.SubElement(
        parent,
        f"{{{RIM}}}ExternalIdentifier",
        id=f"ei-{uuid.uuid4()}",
        registryObject=obj,
        identificationScheme=scheme,
        value=value,
    )
    _name(e, name)


def _entry(objects: etree._Element, doc: Doc, *, now: str, signature: bool = False) -> None:
    eo = etree.SubElement(
        objects, f"{{{RIM}}}ExtrinsicObject", id=doc.entry_id, mimeType="text/xml", objectType=doc.object_type
    )
    _slot(eo, "creationTime", now)
    if doc.hash is not None:
        _slot(eo, "hash", hashlib.sha1(doc.data).hexdigest() if doc.hash == "auto" else doc.hash)
    _slot(eo, "languageCode", "art" if signature else "fr-FR")
    _slot(eo, "legalAuthenticator", "801234567897^MEDECIN^PAUL^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS")
    _slot(eo, "serviceStartTime", now)
    _slot(eo, "serviceStopTime", now)
    if doc.size is not None:
        _slot(eo, "size", str(len(doc.data)) if doc.size == "auto" else doc.size)
    _slot(eo, "sourcePatientId", doc.patient_id)
    _name(eo, "Source" if signature else "CR de consultation")
    _author(eo, doc.entry_id, "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d")
    _classification(eo, doc.entry_id, "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a", *doc.class_code)
    for code in doc.confidentiality:
        _classification(eo, doc.entry_id, "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f", *code)
    if doc.event:
        _classification(eo, doc.entry_id, "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4", *doc.event)
    _classification(eo, doc.entry_id, "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d", *doc.format_code)
    _classification(eo, doc.entry_id, "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1", *doc.facility)
    _classification(eo, doc.entry_id, "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead", *doc.practice)
    _classification(eo, doc.entry_id, "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983", *doc.type_code)
    _external(
        eo, doc.entry_id, "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427", doc.patient_id, "XDSDocumentEntry.patientId"
    )
    _external(
        eo, doc.entry_id, "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab", doc.unique_id, "XDSDocumentEntry.uniqueId"
    )


def _association(objects: etree._Element, kind: str, source: str, target: str) -> None:
    a = etree.SubElement(
        objects,
        f"{{{RIM}}}Association",
        id=f"as-{uuid.uuid4()}",
        associationType=kind,
        sourceObject=source,
        targetObject=target,
    )
    if not kind.endswith("RPLC"):
        _slot(a, "SubmissionSetStatus", "Original")


def submit_objects_request(sub: Submission, signature_doc: Doc | None, *, now: str) -> etree._Element:
    root = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    objects = etree.SubElement(root, f"{{{RIM}}}RegistryObjectList")
    for doc in sub.documents:
        _entry(objects, doc, now=now)
    if signature_doc is not None:
        _entry(objects, signature_doc, now=now, signature=True)
    ss = etree.SubElement(
        objects,
        f"{{{RIM}}}RegistryPackage",
        id="SubmissionSet01",
        objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject",
    )
    _slot(ss, "submissionTime", now)
    _author(ss, "SubmissionSet01", "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d")
    _classification(ss, "SubmissionSet01", "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500", *sub.content_type)
    _external(
        ss,
        "SubmissionSet01",
        "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
        sub.patient_id,
        "XDSSubmissionSet.patientId",
    )
    _external(
        ss,
        "SubmissionSet01",
        "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
        sub.source_id,
        "XDSSubmissionSet.sourceId",
    )
    _external(
        ss,
        "SubmissionSet01",
        "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
        sub.ss_unique_id,
        "XDSSubmissionSet.uniqueId",
    )
    etree.SubElement(
        objects,
        f"{{{RIM}}}Classification",
        id="cl-ss",
        classifiedObject="SubmissionSet01",
        classificationNode="urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd",
    )
    if sub.has_member:
        for doc in sub.documents:
            _association(
                objects, "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember", "SubmissionSet01", doc.entry_id
            )
        if signature_doc is not None:
            _association(
                objects,
                "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember",
                "SubmissionSet01",
                signature_doc.entry_id,
            )
    if signature_doc is not None:
        _association(objects, "urn:ihe:iti:2007:AssociationType:signs", signature_doc.entry_id, "SubmissionSet01")
    for new, old in sub.rplc:
        _association(objects, "urn:ihe:iti:2007:AssociationType:RPLC", new, old)
    return root


def default_claims(**changes: object) -> VihfClaims:
    claims = VihfClaims(
        structure_id=STRUCTURE_ID,
        sector="SA01^1.2.250.1.71.4.2.4",
        subject_id="dmp-facade, simulator tests, service",
        name_id="801234567897",
        roles=(AUTOMATE,),
        patient_ins_cx=patient_cx(),
        lps_name="dmp-facade",
        lps_version="0.1.0",
        lps_homologation="TEST-HOMOLOGATION",
        lps_id="1.2.250.1.999.1",
    )
    return replace(claims, **changes)  # type: ignore[arg-type]


MEDECIN = Role("10", "1.2.250.1.71.1.2.7", "Médecin", "G15")
SPECIALITY_SM26 = Role("SM26", "1.2.250.1.71.4.2.5", "Qualifié en Médecine Générale (SM)", "R01")


def sign_assertion_raw(assertion: etree._Element, credential: Credential) -> etree._Element:
    """Sign an arbitrary assertion (tokens VihfSigner refuses to build: missing speciality, wrong values ...)."""
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm="rsa-sha256",
        digest_algorithm="sha256",
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed: etree._Element = signer.sign(
        assertion, key=credential.key, cert=[credential.certificate], reference_uri="#" + assertion.get("ID")
    )
    return signed


@dataclass
class RequestFactory:
    """Builds complete, signed ITI-41 requests for one PKI."""

    sign: Credential
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def vihf(
        self,
        claims: VihfClaims | None = None,
        *,
        credential: Credential | None = None,
        mutate: Callable[[etree._Element], None] | None = None,
    ) -> etree._Element:
        claims = claims or default_claims()
        signer = VihfSigner(credential or self.sign)
        assertion_id = f"_{uuid.uuid4()}"
        if mutate is None and credential is None:
            return signer.sign(claims, now=self.now(), assertion_id=assertion_id)
        assertion = signer.build(claims, now=self.now(), assertion_id=assertion_id)
        if mutate is not None:
            mutate(assertion)
        return sign_assertion_raw(assertion, credential or self.sign)

    def signature_doc(self, sub: Submission, *, tamper: Callable[[dict[str, bytes]], None] | None = None) -> Doc:
        from facade.soap.xades import LotSigner

        signed = {d.unique_id: d.data for d in sub.documents}
        if tamper is not None:
            tamper(signed)
        xades = LotSigner(self.sign).sign(
            submission_unique_id=sub.ss_unique_id,
            documents=list(signed.items()),
            now=self.now(),
            signature_id=f"_{uuid.uuid4()}",
        )
        return Doc(
            "Signature01",
            sub.signature_unique_id,
            xades,
            class_code=("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN"),
            type_code=("E1762", "ASTM"),
            format_code=(XMLDSIG, "URN"),
            confidentiality=(
                ("N", "2.16.840.1.113883.5.25"),
                ("MASQUE_PS", "1.2.250.1.213.1.1.4.13"),
                ("INVISIBLE_PATIENT", "1.2.250.1.213.1.1.4.13"),
            ),
            event=("1.2.840.10065.1.12.1.14", "1.2.840.10065.1.12"),
            patient_id=sub.patient_id,
        )

    def request(
        self,
        sub: Submission | None = None,
        *,
        assertion: etree._Element | None = None,
        signature: Doc | None = None,
        to: str = "",
        extra_documents: list[tuple[str, bytes]] | None = None,
        drop_documents: set[str] | None = None,
    ) -> SoapRequest:
        sub = sub or Submission.single()
        sig = signature if signature is not None else (self.signature_doc(sub) if sub.with_signature else None)
        stamp = self.now().astimezone(UTC).strftime("%Y%m%d%H%M%S")
        sor = submit_objects_request(sub, sig, now=stamp)
        docs = [(d.entry_id, d.data) for d in sub.documents] + ([(sig.entry_id, sig.data)] if sig else [])
        docs = [d for d in docs if d[0] not in (drop_documents or set())] + (extra_documents or [])
        if drop_documents or extra_documents:
            return _build_unchecked(sor, docs, assertion if assertion is not None else self.vihf(), to=to)
        return build_provide_and_register(
            sor,
            docs,
            assertion if assertion is not None else self.vihf(),
            to=to,
            message_id=f"urn:uuid:{uuid.uuid4()}",
        )


def _build_unchecked(
    sor: etree._Element, docs: list[tuple[str, bytes]], assertion: etree._Element, *, to: str
) -> SoapRequest:
    """Documents that do not match the ExtrinsicObjects (build_provide_and_register refuses that, rightly)."""
    from facade.soap import mtom
    from facade.soap.envelope import XDSB_NS, XOP_NS, build_envelope, serialize

    request_el = etree.Element(f"{{{XDSB_NS}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": XDSB_NS})
    request_el.append(sor)
    parts = []
    for i, (doc_id, data) in enumerate(docs):
        cid = f"part{i}@test"
        el = etree.SubElement(request_el, f"{{{XDSB_NS}}}Document", id=doc_id)
        etree.SubElement(el, f"{{{XOP_NS}}}Include", href=f"cid:{cid}")
        parts.append(mtom.Part(content_id=cid, content_type="text/xml", data=data))
    message_id = f"urn:uuid:{uuid.uuid4()}"
    env = build_envelope(
        [request_el],
        action="urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
        to=to,
        message_id=message_id,
        assertion=assertion,
    )
    ctype, body = mtom.pack(serialize(env), parts, action="urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b")
    return SoapRequest(ctype, body, message_id)
