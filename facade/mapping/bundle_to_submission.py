"""ParsedRequest -> Submission: validate and map in one pass, collect every issue, raise once.

Entry point of the input side: ``to_submission(parse_request(body), ctx, terminology, policy)``.

Submission rules (spec digest §3.2, §3.5, §7.3):
* SubmissionSet uniqueId: the List identifier ``urn:oid:`` (``use=usual`` first, MHD); none -> a new OID
  (information issue). ITI-105 (no List): a new OID;
* contentTypeCode (J59): the List ``ihe-designationType`` extension, else ``policy.default_content_type``;
* title / comments: ``List.title`` / ``List.note[0].text``; submissionTime: ``ctx.now``; sourceId: configuration;
* author: ``List.source`` (a person), else the first person author of the first document; its institution is
  always the emitting site (``1`` + FINESS géographique): the DMP wants the same authorInstitution in the
  submission set and the documents' CDA custodian (spec digest §3.2 note, §3.5);
* one patient per submission: every DocumentReference.subject (and List.subject) must designate the same INS;
* sourcePatientId: the first local id (IPP) as ``IPP^^^&OID&ISO^PI``, else the INS CX.

Lab results (CR-BIO, ``lab_report``):
* a DocumentReference of type 11502-2 (LOINC) in a bundle that also carries the results (a DiagnosticReport,
  designated by ``context.related`` or else the first one; or bare Observations) becomes a level-3 CR-BIO: header
  as mapped from the DocumentReference, body from the results, the PDF attachment as the mandatory PDF copy,
  formatCode ``urn:ihe:lab:xd-lab:2008``. A CDA supplied as content is passed through as usual;
* an ITI-65 bundle with no DocumentReference but a DiagnosticReport (or bare Observations of one patient): the
  whole document is derived from the report (``lab_document_from_report``, LAB_METADATA_DERIVED information);
  the SubmissionSet List is optional there (built as for ITI-105 when absent).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from facade.errors import Issue, Problem, ValidationReport
from facade.fhir.parse import ParsedEntry, ParsedRequest
from facade.fhir.references import ReferenceResolver, Resolved
from facade.fhir.validate import InputPolicy, RequestShape, check_shape
from facade.ids import derived_entry_uuid
from facade.mapping.authors import PERSON_TYPES, site_organization, to_person
from facade.mapping.content import media_type_of
from facade.mapping.context import MappingContext, extension
from facade.mapping.document import to_document_request
from facade.mapping.lab_report import PersonMapper, apply_lab_report, lab_document_from_report, to_lab_report
from facade.mapping.patient import to_patient
from facade.mapping.related import Related, merge, order_reference_ids, read_related
from facade.model.document import (
    Author,
    BuildContext,
    Code,
    DocumentRequest,
    NonXmlBody,
    Patient,
    Person,
    Submission,
)
from facade.model.identifiers import oid_from_urn
from facade.terminology.catalogue import Catalogue
from facade.terminology.tables import Terminology, ValueSetName
from facade.terminology.uri_mapper import uri_to_oid

EXT_DESIGNATION_TYPE = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType"
LOINC_OID = "2.16.840.1.113883.6.1"
CR_BIO_TYPE = "11502-2"
LAB_RESULT_TYPES = ("DiagnosticReport", "Observation")
LAB_CONTENT_TYPES = ("DiagnosticReport", "Observation", "Specimen", "ServiceRequest")
LAB_PARTICIPANT_TYPES = ("Practitioner", "PractitionerRole", "Organization")
TRE_R209_OID = "1.2.250.1.213.2.2"  # TypeActivite (JDV_J59 contentTypeCode)
LAB_CONTENT_TYPE_CODE = "26"  # Analyses médicales biologiques


@dataclass(frozen=True)
class EntryRef:
    """What one request entry became, in request order (for the transaction-response)."""

    index: int
    full_url: str | None
    resource_type: str
    role: str  # submission-set | document | content | patient | participant | replaced | unused
    document_index: int | None = None  # 0-based index into Submission.documents
    unique_id: str | None = None  # the document's or the submission set's uniqueId


@dataclass(frozen=True)
class MappingResult:
    submission: Submission
    warnings: list[Issue] = field(default_factory=list)
    entries: list[EntryRef] = field(default_factory=list)


def to_submission(
    parsed: ParsedRequest,
    ctx: BuildContext,
    terminology: Terminology,
    policy: InputPolicy,
    catalogue: Catalogue | None = None,
) -> MappingResult:
    """Raises BundleValidationError (every issue, FHIRPath expressions) when the request cannot be submitted.
    ``catalogue``: the document-type catalogue (default: the packaged one)."""
    catalogue = catalogue or Catalogue.load()
    mc = MappingContext(ctx, terminology, policy, ReferenceResolver(parsed), ValidationReport())
    derive_lab = _derives_lab_document(parsed)
    shape = _check_shape(parsed, policy, mc, derive_lab)
    lst = shape.submission_set
    subjects = _lab_subjects(parsed) if derive_lab else [(d, f"{d.path}.subject") for d in shape.document_references]
    if lst is not None and lst.raw.get("subject") is not None:
        subjects.append((lst, f"{lst.path}.subject"))
    patient, patient_target = _patient(parsed, subjects, mc)
    source_patient_id = _source_patient_id(patient) if patient else None

    mapped: list[tuple[ParsedEntry, DocumentRequest]] = []
    if derive_lab:
        derived = _derived_lab_document(parsed, patient, source_patient_id, mc, catalogue)
        if derived is not None:
            mapped.append(derived)
    for number, doc in enumerate(shape.document_references, start=1):
        mc.mark(doc, "document", number - 1)
        related = read_related(doc, mc)
        lab = _is_lab_document(parsed, doc, mc)
        row = catalogue.by_key("cr-bio")
        level3 = row.n3_format_code if lab and row is not None else None
        request = to_document_request(
            doc, number, patient, source_patient_id, mc, related=related, level3_format=level3
        )
        if lab:
            request = _as_lab_report(parsed, doc, request, related, mc, catalogue, number - 1)
        if request is not None:
            mapped.append((doc, request))
    _check_unique_ids(mapped, mc)
    _check_unused_lab_entries(parsed, mc)
    documents = [request for _, request in mapped]

    unique_id = _submission_unique_id(lst, mc)
    content_type = _content_type(lst, parsed, mc)
    author = _submission_author(lst, documents, mc)
    if lst is not None:
        mc.mark(lst, "submission-set")
        listed = tuple(e for e, _ in mapped) if derive_lab else shape.document_references
        _check_list_entries(lst, listed, mc)
    if patient_target is not None:
        mc.mark(patient_target, "patient")

    _drop_duplicates(mc.report)  # a participant referenced twice (author + authenticator) is reported once
    mc.report.raise_if_errors()
    assert patient is not None and content_type is not None and author is not None  # else errors were raised
    title = (lst.raw.get("title") if lst else None) or None
    notes = [n.get("text") for n in (lst.raw.get("note") or []) if isinstance(n, dict)] if lst else []
    submission = Submission(
        unique_id=unique_id,
        source_id=ctx.facility.source_id,
        submission_time=ctx.now,
        content_type=content_type,
        author=author,
        patient=patient,
        documents=tuple(documents),
        title=title,
        comments=notes[0] if notes else None,
        fhir_fullurl=lst.full_url if lst else None,
    )
    return MappingResult(submission, mc.report.warnings, _entry_refs(parsed, submission, mc))


def _derives_lab_document(parsed: ParsedRequest) -> bool:
    """An ITI-65 bundle without DocumentReference whose content is lab results: the document is derived."""
    if parsed.kind != "iti65":
        return False
    types = {e.resource_type for e in parsed.entries}
    return "DocumentReference" not in types and bool(types & set(LAB_RESULT_TYPES))


def _check_shape(parsed: ParsedRequest, policy: InputPolicy, mc: MappingContext, derive_lab: bool) -> RequestShape:
    if not derive_lab:
        return check_shape(parsed, policy, mc.report)
    # no DocumentReference is expected here, and the List is optional (submission built as for ITI-105)
    scratch = ValidationReport()
    shape = check_shape(parsed, dataclasses.replace(policy, require_submission_set=False), scratch)
    mc.report.extend(
        i
        for i in scratch.issues
        if not (i.problem is Problem.MISSING_RESOURCE and i.details.get("resource") == "DocumentReference")
    )
    return shape


def _lab_subjects(parsed: ParsedRequest) -> list[tuple[ParsedEntry, str]]:
    """Where the patient of a derived lab document is designated: the DiagnosticReport, else the Observations."""
    report = next((e for e in parsed.entries if e.resource_type == "DiagnosticReport"), None)
    if report is not None:
        return [(report, f"{report.path}.subject")]
    observations = [e for e in parsed.entries if e.resource_type == "Observation"]
    with_subject = [(e, f"{e.path}.subject") for e in observations if e.raw.get("subject") is not None]
    return with_subject or [(observations[0], f"{observations[0].path}.subject")]


def _is_lab_document(parsed: ParsedRequest, doc: ParsedEntry, mc: MappingContext) -> bool:
    """A CR-BIO DocumentReference (type 11502-2) whose bundle carries the results and whose content is not a CDA."""
    if parsed.kind != "iti65" or not any(e.resource_type in LAB_RESULT_TYPES for e in parsed.entries):
        return False
    codings = [c for c in (doc.raw.get("type") or {}).get("coding") or [] if isinstance(c, dict)]
    if not any(c.get("code") == CR_BIO_TYPE and uri_to_oid(str(c.get("system") or "")) == LOINC_OID for c in codings):
        return False
    contents = [c for c in doc.raw.get("content") or [] if isinstance(c, dict)]
    content_type = str(((contents[0].get("attachment") or {}) if contents else {}).get("contentType") or "")
    return media_type_of(content_type) not in mc.policy.cda_media_types


def _as_lab_report(
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
        parsed.model,
        catalogue=catalogue,
        validation=mc.report,
        facility_lab=site_organization(mc),
        report_index=report_index,
        pdf_copy=pdf,
        person_of=_person_of(parsed, mc),
        patient=request.document.patient if request is not None else None,
    )
    used = mapping.used if mapping is not None else frozenset()
    _mark_lab_entries(parsed, mc, document_index, report_index, used, report_role="content")
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


def _derived_lab_document(
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
        _mark_lab_entries(parsed, mc, 0, report_index, used, report_role="document")
        # the patient's problems are reported; still collect the lab ones (every issue in one answer)
        to_lab_report(
            parsed.model,
            catalogue=catalogue,
            validation=mc.report,
            facility_lab=site_organization(mc),
            person_of=_person_of(parsed, mc),
        )
        return None
    errors_before = len(mc.report.errors)
    request = lab_document_from_report(
        parsed.model,
        ctx=mc.build,
        catalogue=catalogue,
        validation=mc.report,
        patient=patient,
        source_patient_id=source_patient_id,
        entry_id="Document01",  # replaced below: the entryUUID derives from the uniqueId generated there
        person_of=_person_of(parsed, mc),
        author_organization=site_organization(mc) if mc.policy.author_institution == "site" else None,
        used=used,
    )
    _mark_lab_entries(parsed, mc, 0, report_index, used, report_role="document")
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


def _person_of(parsed: ParsedRequest, mc: MappingContext) -> PersonMapper:
    """The lab mapping's responsible biologist goes through our author mapping (same identifier and J01 rules)."""

    def person_of(index: int) -> Person | None:
        entry = parsed.entries[index]
        found = to_person(Resolved(entry.raw, entry.path, entry), mc, as_author=False)
        return found[0] if found is not None else None

    return person_of


def _first(parsed: ParsedRequest, resource_type: str) -> int | None:
    return next((e.index for e in parsed.entries if e.resource_type == resource_type), None)


def _first_entry(parsed: ParsedRequest, resource_type: str) -> ParsedEntry | None:
    return next((e for e in parsed.entries if e.resource_type == resource_type), None)


def _mark_lab_entries(
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


def _check_unused_lab_entries(parsed: ParsedRequest, mc: MappingContext) -> None:
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


def _drop_duplicates(report: ValidationReport) -> None:
    seen: set[tuple[object, ...]] = set()
    unique: list[Issue] = []
    for issue in report.issues:
        key = (issue.problem, issue.expression, issue.severity, repr(sorted(issue.details.items())))
        if key not in seen:
            seen.add(key)
            unique.append(issue)
    report.issues[:] = unique


def _patient(
    parsed: ParsedRequest, subjects: list[tuple[ParsedEntry, str]], mc: MappingContext
) -> tuple[Patient | None, Resolved | None]:
    """The one patient of the submission, from every ``subject`` that designates it (DocumentReferences, List,
    or the lab results of a derived document)."""
    has_patient = any(e.resource_type == "Patient" for e in parsed.entries) or any(
        isinstance(c, dict) and c.get("resourceType") == "Patient"
        for d, _ in subjects
        for c in d.raw.get("contained") or []
    )
    if not has_patient:
        mc.report.add(
            Problem.MISSING_RESOURCE,
            expression="Bundle.entry" if parsed.kind == "iti65" else "DocumentReference.contained",
            resource="Patient",
        )
        return None, None
    chosen: Resolved | None = None
    patient: Patient | None = None
    for container, expr in subjects:
        ref = container.raw.get("subject")
        if ref is None:
            mc.report.add(Problem.MISSING_ELEMENT, expression=expr, element=f"{container.resource_type}.subject")
            continue
        target = mc.resolve(ref, container, expr, expected=("Patient",))
        if target is None:
            continue
        if chosen is None:
            chosen = target
            patient = to_patient(target, mc)
        elif target.raw is not chosen.raw and _ins_key(target) != _ins_key(chosen):
            mc.report.add(
                Problem.INVALID_VALUE,
                expression=f"{expr}.reference",
                element=expr,
                reason="every document of a submission is about the same patient",
            )
    return patient, chosen


def _ins_key(target: Resolved) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            (str(i.get("system")), str(i.get("value")))
            for i in target.raw.get("identifier") or []
            if isinstance(i, dict) and str(i.get("system", "")).startswith("urn:oid:1.2.250.1.213.1.4.")
        )
    )


def _source_patient_id(patient: Patient) -> str:
    if patient.local_ids:
        ipp = patient.local_ids[0]
        return f"{ipp.extension}^^^&{ipp.root}&ISO^PI"
    return patient.ins.cx()


def _check_unique_ids(mapped: list[tuple[ParsedEntry, DocumentRequest]], mc: MappingContext) -> None:
    counts: dict[str, int] = {}
    for _, request in mapped:
        counts[request.document.id] = counts.get(request.document.id, 0) + 1
    for doc, request in mapped:
        if counts[request.document.id] > 1:
            mc.report.add(
                Problem.INVALID_VALUE,
                expression=f"{doc.path}.masterIdentifier.value",
                element="DocumentReference.masterIdentifier",
                reason=f"uniqueId {request.document.id} is used twice in this submission",
            )
    # entryUUIDs (official identifiers) too: the registry keeps one DocumentEntry per entryUUID
    entries: dict[str, int] = {}
    for _, request in mapped:
        entries[request.entry_id] = entries.get(request.entry_id, 0) + 1
    for doc, request in mapped:
        if entries[request.entry_id] > 1 or request.entry_id == request.replaces_entry_uuid:
            mc.report.add(
                Problem.INVALID_VALUE,
                expression=f"{doc.path}.identifier",
                element="DocumentReference.identifier (official: the entryUUID)",
                reason=f"entryUUID {request.entry_id} is used twice in this submission"
                if entries[request.entry_id] > 1
                else f"entryUUID {request.entry_id} is also the entryUUID of the document it replaces",
            )


def _submission_unique_id(lst: ParsedEntry | None, mc: MappingContext) -> str:
    if lst is not None:
        identifiers = [i for i in lst.raw.get("identifier") or [] if isinstance(i, dict)]
        ordered = sorted(identifiers, key=lambda i: 0 if i.get("use") == "usual" else 1)
        for ident in ordered:
            value = str(ident.get("value") or "")
            if value.lower().startswith("urn:oid:") and oid_from_urn(value):
                return oid_from_urn(value) or ""
    new_id = mc.build.new_oid()
    mc.report.inform(
        Problem.INFORMATION,
        expression=f"{lst.path}.identifier" if lst else None,
        text=f"no urn:oid SubmissionSet identifier: the submission set uniqueId {new_id} was generated",
    )
    return new_id


def _content_type(lst: ParsedEntry | None, parsed: ParsedRequest, mc: MappingContext) -> Code | None:
    if lst is not None:
        found = extension(lst.raw, EXT_DESIGNATION_TYPE)
        if found is not None:
            return mc.codeable(
                ValueSetName.CONTENT_TYPE,
                found[1].get("valueCodeableConcept"),
                f"{lst.path}.extension[{found[0]}].valueCodeableConcept",
                "SubmissionSet designationType (contentTypeCode)",
                required=True,
            )
    lab_only = _lab_content_type(parsed, mc)
    if lab_only is not None:
        return lab_only
    if mc.policy.default_content_type is not None:
        return mc.policy.default_content_type
    mc.report.add(
        Problem.MISSING_ELEMENT,
        expression=f"{lst.path}.extension" if lst else parsed.root,
        element="SubmissionSet designationType (contentTypeCode, JDV_J59); none is configured by default",
    )
    return None


def _lab_content_type(parsed: ParsedRequest, mc: MappingContext) -> Code | None:
    """contentTypeCode of a submission of lab reports only (derived, or every DocumentReference a CR-BIO built
    from the results): TRE_R209 ``26`` Analyses médicales biologiques, when JDV_J59 has it."""
    documents = [e for e in parsed.entries if e.resource_type == "DocumentReference"]
    lab_only = _derives_lab_document(parsed) or (
        bool(documents) and all(_is_lab_document(parsed, d, mc) for d in documents)
    )
    if not lab_only:
        return None
    return mc.terminology.lookup(ValueSetName.CONTENT_TYPE, LAB_CONTENT_TYPE_CODE, TRE_R209_OID)


def _submission_author(lst: ParsedEntry | None, documents: list[DocumentRequest], mc: MappingContext) -> Author | None:
    site = site_organization(mc)
    if lst is not None and lst.raw.get("source") is not None:
        target = mc.resolve(lst.raw["source"], lst, f"{lst.path}.source", expected=(*PERSON_TYPES, "Device"))
        if target is not None and target.resource_type in PERSON_TYPES:
            person_org = to_person(target, mc)
            if person_org is None:
                return None
            return Author(time=mc.build.now, organization=site, person=person_org[0])
    for request in documents:
        for author in request.document.authors:
            if author.person is not None or author.device is not None:
                return Author(time=mc.build.now, organization=site, person=author.person, device=author.device)
    return None


def _check_list_entries(lst: ParsedEntry, docs: tuple[ParsedEntry, ...], mc: MappingContext) -> None:
    listed: set[int] = set()
    expected = ("DocumentReference", "List", *(d.resource_type for d in docs if d.resource_type != "DocumentReference"))
    for i, item in enumerate(lst.raw.get("entry") or []):
        ref = (item or {}).get("item")
        target = mc.resolve(ref, lst, f"{lst.path}.entry[{i}].item", expected=expected)
        if target is not None:
            listed.add(target.entry.index)
    for doc in docs:
        if doc.index not in listed:
            mc.report.warn(
                Problem.INVALID_VALUE,
                expression=f"{lst.path}.entry",
                element="SubmissionSet List.entry",
                reason=f"{doc.full_url or doc.path} is not listed; it is submitted anyway",
            )


def _entry_refs(parsed: ParsedRequest, submission: Submission, mc: MappingContext) -> list[EntryRef]:
    refs: list[EntryRef] = []
    for entry in parsed.entries:
        role, doc_index = mc.roles.get(entry.index, ("unused", None))
        unique_id: str | None = None
        if role == "document" and doc_index is not None and doc_index < len(submission.documents):
            unique_id = submission.documents[doc_index].document.id
        elif role == "submission-set":
            unique_id = submission.unique_id
        refs.append(EntryRef(entry.index, entry.full_url, entry.resource_type, role, doc_index, unique_id))
    return refs


__all__ = ["EntryRef", "InputPolicy", "MappingResult", "to_submission"]
