"""The CR-BIO document: turning a mapped document into a level-3 CR-BIO (``apply_lab_report``), or deriving the
whole document request from the lab results when the bundle has no DocumentReference
(``lab_document_from_report``)."""

from __future__ import annotations

import dataclasses

from facade.errors import Issue, Problem
from facade.mapping.context import MappingContext
from facade.mapping.lab.report import LabMapping, to_lab_report
from facade.mapping.lab.state import UnitValidator
from facade.mapping.related import order_reference_ids
from facade.model import oids
from facade.model.document import (
    Author,
    ClinicalDocument,
    Code,
    DocumentRequest,
    Encounter,
    LegalAuthenticator,
    Organization,
    Patient,
    ServiceEvent,
    StructuredBody,
)
from facade.terminology.catalogue import Catalogue, DocumentType


def apply_lab_report(doc: ClinicalDocument, mapping: LabMapping, catalogue: Catalogue) -> ClinicalDocument:
    """``doc`` as a CR-BIO level-3 document: volet code/title (fixed by the schematron), model templateIds,
    structured body, the lab serviceEvent (performer = laboratoire exécutant, code = first chapter) and the order
    ids. Everything else (patient, authors, custodian, encounter ...) is kept as mapped."""
    row = catalogue.by_key("cr-bio")
    if row is None:  # pragma: no cover - the catalogue ships with the row
        raise LookupError("catalogue has no cr-bio row")
    se = doc.service_event
    first_chapter = mapping.report.chapters[0].code
    service_event = ServiceEvent(
        start=mapping.start or se.start,
        end=mapping.issued or se.end,
        performer=mapping.lab,
        practice_setting=se.practice_setting,
        code=Code(first_chapter.code, first_chapter.system, first_chapter.display, "LOINC"),
        performer_person=mapping.biologist,
    )
    return dataclasses.replace(
        doc,
        type_code=Code(row.type_code.code, row.type_code.system, row.type_code.display, "LOINC"),
        title=row.title,
        template="cr-bio",
        template_ids=row.model_template_ids,
        body=StructuredBody(content=mapping.report),
        service_event=service_event,
        order_ids=tuple(dict.fromkeys((*doc.order_ids, *mapping.order_ids))),  # DocumentReference's first
    )


def lab_document_from_report(
    mc: MappingContext,
    *,
    catalogue: Catalogue,
    patient: Patient,
    source_patient_id: str,
    confidentiality: Code | None = None,
    check_unit: UnitValidator | None = None,
    entry_id: str = "Document01",
    author_organization: Organization | None = None,
    used: set[int] | None = None,
) -> DocumentRequest | None:
    """The "no DocumentReference" case (issue 4 §1): a lab bundle with a DiagnosticReport, or bare Observations
    of one patient. Derives the whole CR-BIO document request: typeCode 11502-2, classCode (ASS_X16), formatCode
    ``urn:ihe:lab:xd-lab:2008``, creation time = DiagnosticReport.issued (else the build time), author and legal
    authenticator = the responsible biologist of the performing lab, custodian = the facility; adds an
    informational issue saying so. ``author_organization`` (the emitting site under author_institution=site) replaces
    the performing lab as the author's and legal authenticator's organization; the lab stays the serviceEvent
    performer. Every ``subject`` must designate ``patient`` (same INS). ``used``, when given, receives the bundle
    entries the document is built from (``LabMapping.used``). Returns None when ``mc.report`` has errors (the
    caller raises it)."""
    ctx, validation = mc.build, mc.report
    facility = ctx.facility
    site = Organization(id_nat=facility.struct_idnat, name=facility.site_name)
    mapping = to_lab_report(mc, catalogue=catalogue, facility_lab=site, check_unit=check_unit, patient=patient)
    if mapping is not None and used is not None:
        used.update(mapping.used)
    if mapping is None or validation.errors or mapping.biologist is None:
        return None
    row = catalogue.by_key("cr-bio")
    if row is None or row.n3_format_code is None:  # pragma: no cover - the catalogue ships with the row
        raise LookupError("catalogue has no cr-bio row")
    attributed = _attributed(mapping, author_organization or mapping.lab, mc)
    confidentiality = confidentiality or Code("N", oids.HL7_CONFIDENTIALITY, "Normal")
    base = _derived_header(mapping, row, attributed, site, confidentiality, patient, mc)
    doc = apply_lab_report(base, mapping, catalogue)
    validation.extend(
        [
            Issue(
                Problem.LAB_METADATA_DERIVED,
                expression=_anchor(mapping),
                details={
                    "source": "the DiagnosticReport" if mapping.report_index is not None else "the Observations",
                    "type_code": row.type_code.code,
                    "class_code": row.class_code.code,
                },
            )
        ]
    )
    return DocumentRequest(
        document=doc,
        entry_id=entry_id,
        class_code=row.class_code,
        format_code=row.n3_format_code,
        confidentiality_codes=(confidentiality,),
        source_patient_id=source_patient_id,
        fhir_fullurl=mapping.report_fullurl,
        # same rule as a DocumentReference's orders: an id with HL7 v2 separators stays in the CDA only
        reference_ids=order_reference_ids(doc.order_ids),
    )


def _anchor(mapping: LabMapping) -> str:
    """Where a derived document's issues point: its DiagnosticReport, else the bundle's entries."""
    return f"Bundle.entry[{mapping.report_index}].resource" if mapping.report_index is not None else "Bundle.entry"


def _attributed(mapping: LabMapping, attributed: Organization, mc: MappingContext) -> Organization:
    """The author's and legal authenticator's organization; says so when it is not the performing lab."""
    if attributed.id_nat != mapping.lab.id_nat:
        mc.report.add(
            Problem.INFORMATION,
            expression=_anchor(mapping),
            text=f"the performing laboratory {mapping.lab.name} ({mapping.lab.id_nat}) is the serviceEvent performer; "
            f"the author's and legal authenticator's organization is {attributed.name} ({attributed.id_nat}) "
            "(author_institution=site: DocumentEntry and SubmissionSet authorInstitution are identical)",
        )
    return attributed


def _derived_header(
    mapping: LabMapping,
    row: DocumentType,
    attributed: Organization,
    site: Organization,
    confidentiality: Code,
    patient: Patient,
    mc: MappingContext,
) -> ClinicalDocument:
    """The header derived from the report: issued = document time, the biologist is author and legal
    authenticator, the lab performs the service event, the site is the custodian."""
    ctx, facility = mc.build, mc.build.facility
    assert mapping.biologist is not None
    issued = mapping.issued or ctx.now
    start = mapping.start or issued
    return ClinicalDocument(
        id=ctx.new_oid(),
        set_id=ctx.new_oid(),
        version=1,
        type_code=row.type_code,
        title=row.title,
        effective_time=issued,
        confidentiality=confidentiality,
        patient=patient,
        authors=(Author(time=issued, organization=attributed, person=mapping.biologist),),
        custodian=site,
        legal_authenticator=LegalAuthenticator(person=mapping.biologist, organization=attributed, time=issued),
        service_event=ServiceEvent(
            start=start, end=issued, performer=mapping.lab, practice_setting=facility.practice_setting
        ),
        encounter=Encounter(start=start, end=None, facility_type=facility.sector, facility_name=facility.site_name),
        body=StructuredBody(content=mapping.report),
        template_ids=row.model_template_ids,
    )


__all__ = ["apply_lab_report", "lab_document_from_report"]
