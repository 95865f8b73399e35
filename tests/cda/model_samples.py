"""Complete internal-model fixtures built in Python (fixed clock, SequentialOids): the inputs of the CDA and ebRIM
goldens. Shared by tests/cda and tests/xds (``from tests.cda.model_samples import ...``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from facade.ids import SequentialOids
from facade.model.document import (
    OID_INS_NIR_TEST,
    Address,
    Author,
    ClinicalDocument,
    Code,
    Device,
    DocumentRequest,
    Encounter,
    Ins,
    InstanceId,
    LegalAuthenticator,
    NonXmlBody,
    Organization,
    Patient,
    Person,
    RenderedDocument,
    ServiceEvent,
    SignatureDocument,
    Submission,
    Telecom,
)

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2024, 5, 2, 10, 30, 15, tzinfo=PARIS)  # +0200 (summer time)
WINTER = datetime(2024, 1, 15, 8, 5, 0, tzinfo=PARIS)  # +0100

# A tiny but real PDF (header, one empty page, xref, trailer).
PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\nxref\n0 4\n0000000000 65535 f \n"
    b"0000000009 00000 n \n0000000052 00000 n \n0000000101 00000 n \ntrailer<</Size 4/Root 1 0 R>>\n"
    b"startxref\n164\n%%EOF\n"
)

SITE = Organization(
    id_nat="1750100125",
    name="CH DE DEMONSTRATION & ASSOCIES",  # '&' exercises escaping
    addresses=(Address(lines=("12 rue de la Paix",), city="PARIS", postal_code="75002", country="FRANCE", use="WP"),),
    telecoms=(Telecom("tel:0145000000", "WP"),),
    sector=Code("SA01", "1.2.250.1.71.4.2.4", "Etablissement public de santé"),
)

DOCTOR = Person(
    id_nat="801234567897",
    family="MARTIN",
    given=("Claire",),
    prefix="DR",
    profession=Code("G15_10/SM26", "1.2.250.1.213.1.1.4.5", "Médecin - Qualifié en Médecine Générale (SM)"),
    telecoms=(Telecom("mailto:claire.martin@ch-demo.mssante.fr", "WP"),),
)

PATIENT = Patient(
    ins=Ins("279035121518989", OID_INS_NIR_TEST),
    local_ids=(InstanceId("1.2.250.1.999.1.1.7898.2", "IPP0042"),),
    birth_family_name="PAT-TROIS",
    birth_given_names=("DOMINIQUE", "MARIE-LOUISE"),
    first_birth_given_name="DOMINIQUE",
    gender="F",
    birth_time="19790328",
    used_family_name="PAT-TROIS",
    used_given_name="DOMINIQUE",
    birthplace_cog="51215",
    birthplace_city="DOMPREMY",
    addresses=(
        Address(lines=("28 avenue de Breteuil",), city="PARIS", postal_code="75007", country="FRANCE", use="H"),
    ),
    telecoms=(Telecom("tel:0144534551", "H"),),
)

TYPE_LDL_SES = Code("11490-0", "2.16.840.1.113883.6.1", "Lettre de liaison à la sortie d'un établissement de soins")
CONF_N = Code("N", "2.16.840.1.113883.5.25", "Normal")
PRACTICE = Code("ETABLISSEMENT", "1.2.250.1.213.1.1.4.9", "Etablissement de santé")
FACILITY = Code("SA01", "1.2.250.1.71.4.2.4", "Etablissement public de santé")
CLASS_CR = Code("10", "1.2.250.1.213.1.1.4.1", "Compte rendu")
FORMAT_PDF = Code("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3", "Document à corps non structuré en Pdf/A-1")
CONTENT_TYPE = Code("03", "1.2.250.1.213.2.2", "Hospitalisation complète (non compris hospitalisation de semaine)")
MASQUE_PS = Code("MASQUE_PS", "1.2.250.1.213.1.1.4.13", "Masqué aux professionnels de santé")


def n1_document(oids: SequentialOids | None = None, **changes: object) -> ClinicalDocument:
    """A complete N1 (PDF) discharge letter."""
    oids = oids or SequentialOids("1.2.250.1.999.1.1.7898.3")
    doc_id = oids()
    doc = ClinicalDocument(
        id=doc_id,
        set_id=oids(),
        version=1,
        type_code=TYPE_LDL_SES,
        title="Lettre de liaison à la sortie <hospitalisation>",
        effective_time=NOW,
        confidentiality=CONF_N,
        patient=PATIENT,
        authors=(Author(time=NOW, organization=SITE, person=DOCTOR),),
        custodian=SITE,
        legal_authenticator=LegalAuthenticator(person=DOCTOR, organization=SITE, time=NOW),
        service_event=ServiceEvent(
            start=WINTER, end=NOW, performer=SITE, practice_setting=PRACTICE, performer_person=DOCTOR
        ),
        encounter=Encounter(start=WINTER, end=NOW, facility_type=FACILITY, facility_name="Service de médecine interne"),
        body=NonXmlBody("application/pdf", PDF_BYTES),
        template_ids=(InstanceId("1.3.6.1.4.1.19376.1.2.20"),),
    )
    return replace(doc, **changes) if changes else doc  # type: ignore[arg-type]


def device_author() -> Author:
    return Author(
        time=NOW,
        organization=SITE,
        device=Device(id_nat="1750100125/LOG01", model_name="Facade DMP", software_name="dmp-facade 0.1"),
    )


def document_request(doc: ClinicalDocument, **changes: object) -> DocumentRequest:
    req = DocumentRequest(
        document=doc,
        entry_id="Document01",
        class_code=CLASS_CR,
        format_code=FORMAT_PDF,
        confidentiality_codes=(CONF_N, MASQUE_PS),
        source_patient_id="IPP0042^^^&1.2.250.1.999.1.1.7898.2&ISO^PI",
        comments="Sortie le 2 mai",
        event_codes=(Code("HPHB003", "1.2.250.1.213.2.5", "Pose d'un stent"),),
        reference_ids=("ORD-77^^^&1.2.250.1.999.1.1.7898.9&ISO^urn:ihe:iti:xds:2013:order",),
    )
    return replace(req, **changes) if changes else req  # type: ignore[arg-type]


def submission(requests: tuple[DocumentRequest, ...], unique_id: str = "1.2.250.1.999.1.1.7898.4.1") -> Submission:
    return Submission(
        unique_id=unique_id,
        source_id="1.2.250.1.999.1.1.7898",
        submission_time=NOW,
        content_type=CONTENT_TYPE,
        author=Author(time=NOW, organization=SITE, person=DOCTOR),
        patient=PATIENT,
        documents=requests,
        title="Lot de sortie",
        comments="Envoi automatique",
    )


def signature_document() -> SignatureDocument:
    return SignatureDocument(
        entry_id="Signature01",
        unique_id="1.2.250.1.999.1.1.7898.5.1",
        xml=b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#" Id="sig"/>',
        created=NOW,
    )


def rendered(req: DocumentRequest, cda: bytes) -> RenderedDocument:
    return RenderedDocument(request=req, cda=cda)
