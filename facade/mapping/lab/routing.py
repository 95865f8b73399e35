"""Where lab results go in a submission (bundle routing, decided once per request):

* a DocumentReference of type 11502-2 (LOINC) in a bundle that also carries the results (a DiagnosticReport,
  designated by ``context.related`` or else the only one; or bare Observations) becomes a level-3 CR-BIO: header
  as mapped from the DocumentReference, body from the results, its PDF attachment as the PDF copy. A CDA supplied
  as content is passed through as usual;
* an ITI-65 bundle with no DocumentReference but a DiagnosticReport (or bare Observations of one patient): the
  whole document is derived from the report (``lab_document_from_report``, LAB_METADATA_DERIVED information);
* once every document is mapped, a result no report reaches is an error, never a silent drop.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from facade.errors import Problem
from facade.fhir.parse import ParsedEntry, ParsedRequest
from facade.ids import derived_entry_uuid
from facade.mapping.authors import site_organization
from facade.mapping.content import media_type_of
from facade.mapping.context import MappingContext
from facade.mapping.lab.document import apply_lab_report, lab_document_from_report
from facade.mapping.lab.report import to_lab_report
from facade.mapping.related import Related, merge, order_reference_ids
from facade.model.document import Code, DocumentRequest, NonXmlBody, Patient
from facade.model.oids import LOINC, TRE_R209_TYPE_ACTIVITE
from facade.terminology.catalogue import Catalogue
from facade.terminology.tables import ValueSetName
from facade.terminology.uri_mapper import uri_to_oid

CR_BIO_TYPE = "11502-2"
LAB_RESULT_TYPES = ("DiagnosticReport", "Observation")
LAB_CONTENT_TYPES = ("DiagnosticReport", "Observation", "Specimen", "ServiceRequest")
LAB_PARTICIPANT_TYPES = ("Practitioner", "PractitionerRole", "Organization")
LAB_CONTENT_TYPE_CODE = "26"  # TRE_R209 Analyses médicales biologiques (JDV_J59 contentTypeCode)


@dataclass(frozen=True)
class LabRoute:
    """The lab routing of one request. ``derive``: no DocumentReference, the document is derived from the
    results; ``documents``: the DocumentReference entries that become a level-3 CR-BIO."""

    derive: bool = False
    documents: frozenset[int] = frozenset()
    document_references: int = 0

    def is_lab(self, doc: ParsedEntry) -> bool:
        return doc.index in self.documents

    @property
    def lab_only(self) -> bool:
        """Every document of the submission is a lab report (contentTypeCode 26)."""
        return self.derive or (self.document_references > 0 and len(self.documents) == self.document_references)


def route(parsed: ParsedRequest, mc: MappingContext) -> LabRoute:
    if parsed.kind != "iti65":
        return LabRoute()
    types = {e.resource_type for e in parsed.entries}
    documents = [e for e in parsed.entries if e.resource_type == "DocumentReference"]
    if not types & set(LAB_RESULT_TYPES):
        return LabRoute(document_references=len(documents))
    if not documents:
        return LabRoute(derive=True)
    lab = frozenset(d.index for d in documents if _is_cr_bio(d, mc))
    return LabRoute(documents=lab, document_references=len(documents))


def _is_cr_bio(doc: ParsedEntry, mc: MappingContext) -> bool:
    """A CR-BIO DocumentReference (type 11502-2) whose content is not a CDA."""
    codings = [c for c in (doc.raw.get("type") or {}).get("coding") or [] if isinstance(c, dict)]
    if not any(c.get("code") == CR_BIO_TYPE and uri_to_oid(str(c.get("system") or "")) == LOINC for c in codings):
        return False
    contents = [c for c in doc.raw.get("content") or [] if isinstance(c, dict)]
    content_type = str(((contents[0].get("attachment") or {}) if contents else {}).get("contentType") or "")
    return media_type_of(content_type) not in mc.policy.cda_media_types


def lab_subjects(parsed: ParsedRequest) -> list[tuple[ParsedEntry, str]]:
    """Where the patient of a derived lab document is designated: the DiagnosticReport, else the Observations."""
    report = next((e for e in parsed.entries if e.resource_type == "DiagnosticReport"), None)
    if report is not None:
        return [(report, f"{report.path}.subject")]
    observations = [e for e in parsed.entries if e.resource_type == "Observation"]
    with_subject = [(e, f"{e.path}.subject") for e in observations if e.raw.get("subject") is not None]
    return with_subject or [(observations[0], f"{observations[0].path}.subject")]


def lab_content_type(lab: LabRoute, mc: MappingContext) -> Code | None:
    """contentTypeCode of a submission of lab reports only: TRE_R209 ``26``, when JDV_J59 has it."""
    if not lab.lab_only:
        return None
    return mc.terminology.lookup(ValueSetName.CONTENT_TYPE, LAB_CONTENT_TYPE_CODE, TRE_R209_TYPE_ACTIVITE)


def as_lab_report(
    parsed: ParsedRequest,
    doc: ParsedEntry,
    request: DocumentRequest | None,
    related: Related,
    mc: MappingContext,
    catalogue: Catalogue,
    document_index: int,
) -> DocumentRequest | None:
    """The DocumentReference's document as a level-3 CR-BIO built from the bundle's results (H7's mapping).
    The lab mapping runs even when the header failed, so every problem is reported at once."""
    report_index = related.report_indexes[0] if related.report_indexes else _first(parsed, "DiagnosticReport")
    reports = [e for e in parsed.entries if e.resource_type == "DiagnosticReport"]
    if not related.report_indexes and len(reports) > 1:  # never guess which report is this document's
        mc.report.add(
            Problem.INVALID_VALUE,
            expression=f"{doc.path}.context.related",
            element=f"{doc.path}.context.related",
            reason=f"the bundle has {len(reports)} DiagnosticReports: reference this document's one here",
        )
    body = request.document.body if request is not None else None
    pdf = body.data if isinstance(body, NonXmlBody) and body.media_type == "application/pdf" else None
    if isinstance(body, NonXmlBody) and pdf is None:
        mc.report.inform(
            Problem.INFORMATION,
            expression=f"{doc.path}.content[0].attachment",
            text=f"CR-BIO: the {body.media_type} attachment is replaced by the structured results and a generated "
            "PDF copy (send the lab's PDF rendering as the attachment to keep it)",
        )
    errors_before = len(mc.report.errors)
    mapping = to_lab_report(
        mc,
        catalogue=catalogue,
        facility_lab=site_organization(mc),
        report_index=report_index,
        pdf_copy=pdf,
        patient=request.document.patient if request is not None else None,
    )
    used = mapping.used if mapping is not None else frozenset()
    mark_lab_entries(parsed, mc, document_index, report_index, used, report_role="content")
    if mapping is None:
        if len(mc.report.errors) == errors_before:  # to_lab_report found nothing usable without saying why
            mc.report.add(
                Problem.MISSING_RESOURCE, expression="Bundle.entry", resource="DiagnosticReport or Observation"
            )
        return None
    row = catalogue.by_key("cr-bio")
    if request is None or row is None or row.n3_format_code is None:
        return None
    lab_doc = apply_lab_report(request.document, mapping, catalogue)
    return dataclasses.replace(
        request,
        document=lab_doc,
        format_code=row.n3_format_code,
        reference_ids=merge(request.reference_ids, order_reference_ids(lab_doc.order_ids)),
    )


def derived_lab_document(
    parsed: ParsedRequest,
    patient: Patient | None,
    source_patient_id: str | None,
    mc: MappingContext,
    catalogue: Catalogue,
) -> tuple[ParsedEntry, DocumentRequest] | None:
    report_index = _first(parsed, "DiagnosticReport")
    anchor = parsed.entries[report_index] if report_index is not None else _first_entry(parsed, "Observation")
    for extra in [e for e in parsed.entries if e.resource_type == "DiagnosticReport"][1:]:
        # one derived document per submission: which results belong together is the sender's call (issue 4 §2)
        mc.report.add(
            Problem.INVALID_VALUE,
            expression=extra.path,
            element="Bundle.entry (DiagnosticReport)",
            reason="one DiagnosticReport per submission without DocumentReference: send one bundle per report, "
            "or a DocumentReference per report (context.related)",
        )
    used: set[int] = set()
    if patient is None or source_patient_id is None:
        mark_lab_entries(parsed, mc, 0, report_index, used, report_role="document")
        # the patient's problems are reported; still collect the lab ones (every issue in one answer)
        to_lab_report(mc, catalogue=catalogue, facility_lab=site_organization(mc))
        return None
    errors_before = len(mc.report.errors)
    request = lab_document_from_report(
        mc,
        catalogue=catalogue,
        patient=patient,
        source_patient_id=source_patient_id,
        entry_id="Document01",  # replaced below: the entryUUID derives from the uniqueId generated there
        author_organization=site_organization(mc) if mc.policy.author_institution == "site" else None,
        used=used,
    )
    mark_lab_entries(parsed, mc, 0, report_index, used, report_role="document")
    if request is None and len(mc.report.errors) == errors_before:  # never submit nothing silently
        mc.report.add(Problem.MISSING_RESOURCE, expression="Bundle.entry", resource="DiagnosticReport or Observation")
    if request is None or anchor is None:
        return None
    # no DocumentReference, hence no official identifier: the entryUUID derives from the uniqueId (never a fullUrl)
    entry_uuid = derived_entry_uuid(request.document.id)
    mc.report.inform(
        Problem.INFORMATION,
        expression=anchor.path,
        text=f"the DocumentEntry entryUUID {entry_uuid} was derived from the uniqueId "
        "(quote it to replace this document)",
    )
    return anchor, dataclasses.replace(request, entry_id=entry_uuid)


def _first(parsed: ParsedRequest, resource_type: str) -> int | None:
    return next((e.index for e in parsed.entries if e.resource_type == resource_type), None)


def _first_entry(parsed: ParsedRequest, resource_type: str) -> ParsedEntry | None:
    return next((e for e in parsed.entries if e.resource_type == resource_type), None)


def mark_lab_entries(
    parsed: ParsedRequest,
    mc: MappingContext,
    document_index: int,
    report_index: int | None,
    used: frozenset[int] | set[int],
    *,
    report_role: str,
) -> None:
    """Transaction-response roles of the lab resources the document is built from (``used``: first role wins,
    see MappingContext.mark); the others stay "unused" (``_check_unused_lab_entries`` says so)."""
    if report_index is not None:
        mc.mark(parsed.entries[report_index], report_role, document_index)
    for entry in parsed.entries:
        if entry.index not in used:
            continue
        if entry.resource_type in LAB_CONTENT_TYPES:
            mc.mark(entry, "content", document_index)
        elif entry.resource_type in LAB_PARTICIPANT_TYPES:
            mc.mark(entry, "participant")


def check_unused_lab_entries(parsed: ParsedRequest, mc: MappingContext) -> None:
    """Once every document is mapped: a lab result no document's report reaches (DiagnosticReport.result /
    Observation.hasMember) is an error, never a silent drop; an unreferenced Specimen or ServiceRequest is a
    warning (nothing of the patient's results is lost). Skipped when the lab mapping already failed (its
    entries are not marked then) or when the bundle carries no lab document."""
    lab_types = (*LAB_RESULT_TYPES, "Specimen", "ServiceRequest")
    lab_entries = [e for e in parsed.entries if e.resource_type in lab_types]
    if mc.report.errors or not any(e.index in mc.roles for e in lab_entries):
        return
    for entry in lab_entries:
        if entry.index in mc.roles:
            continue
        text = f"{entry.full_url or entry.path} is not reached from the document's DiagnosticReport"
        if entry.resource_type in LAB_RESULT_TYPES:
            mc.report.add(
                Problem.INVALID_VALUE,
                expression=entry.path,
                element=f"Bundle.entry ({entry.resource_type})",
                reason=f"{text} (result / hasMember): it would not be sent; reference it or send it separately",
            )
        else:
            mc.report.warn(
                Problem.INVALID_VALUE,
                expression=entry.path,
                element=f"Bundle.entry ({entry.resource_type})",
                reason=f"{text}: ignored",
            )


__all__ = [
    "LabRoute",
    "as_lab_report",
    "check_unused_lab_entries",
    "derived_lab_document",
    "lab_content_type",
    "lab_subjects",
    "mark_lab_entries",
    "route",
]
