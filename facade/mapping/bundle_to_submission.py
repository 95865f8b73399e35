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

Lab results (CR-BIO): which documents are built from the bundle's DiagnosticReport / Observations, or derived
from them when there is no DocumentReference, is decided once by ``facade.mapping.lab.routing``; the SubmissionSet
List is optional for a derived document (built as for ITI-105 when absent).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from facade.errors import Issue, Problem, ValidationReport
from facade.fhir.parse import ParsedEntry, ParsedRequest
from facade.fhir.references import ReferenceResolver
from facade.fhir.validate import InputPolicy, RequestShape, check_shape
from facade.mapping.authors import PERSON_TYPES, site_organization, to_person
from facade.mapping.context import MappingContext, extension
from facade.mapping.document import to_document_request
from facade.mapping.lab.routing import (
    LabRoute,
    as_lab_report,
    check_unused_lab_entries,
    derived_lab_document,
    lab_content_type,
    lab_subjects,
    route,
)
from facade.mapping.related import read_related
from facade.mapping.subject import submission_patient
from facade.mapping.visibility import refuse_if_opposed
from facade.model.document import (
    Author,
    BuildContext,
    Code,
    DocumentRequest,
    Patient,
    Submission,
)
from facade.model.identifiers import oid_from_urn
from facade.terminology.catalogue import Catalogue
from facade.terminology.tables import Terminology, ValueSetName

EXT_DESIGNATION_TYPE = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType"


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
    submission_id_given: bool = False  # the SubmissionSet uniqueId is the client's (else generated)


def to_submission(
    parsed: ParsedRequest,
    ctx: BuildContext,
    terminology: Terminology,
    policy: InputPolicy,
    catalogue: Catalogue | None = None,
) -> MappingResult:
    """Raises BundleValidationError (every issue, FHIRPath expressions) when the request cannot be submitted.
    ``catalogue``: the document-type catalogue (default: the packaged one)."""
    refuse_if_opposed(parsed)  # the patient's opposition to feeding: refused before anything else (403)
    catalogue = catalogue or Catalogue.load()
    mc = MappingContext(ctx, terminology, policy, ReferenceResolver(parsed), ValidationReport())
    lab = route(parsed, mc)
    shape = _check_shape(parsed, policy, mc, lab.derive)
    lst = shape.submission_set
    patient, patient_target = submission_patient(
        _subjects(parsed, shape, lab), shape.document_references, parsed.kind, mc
    )
    source_patient_id = _source_patient_id(patient) if patient else None
    mapped = _documents(parsed, shape, lab, patient, source_patient_id, mc, catalogue)
    _check_unique_ids(mapped, mc)
    check_unused_lab_entries(parsed, mc)
    documents = [request for _, request in mapped]

    unique_id, given = _submission_unique_id(lst, mc)
    content_type = _content_type(lst, parsed, lab, mc)
    author = _submission_author(lst, documents, mc)
    if lst is not None:
        mc.mark(lst, "submission-set")
        _check_list_entries(lst, tuple(e for e, _ in mapped) if lab.derive else shape.document_references, mc)
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
    return MappingResult(submission, mc.report.warnings, _entry_refs(parsed, submission, mc), given)


def _subjects(parsed: ParsedRequest, shape: RequestShape, lab: LabRoute) -> list[tuple[ParsedEntry, str]]:
    """Every ``subject`` that designates the submission's patient: the DocumentReferences' (or, for a derived lab
    document, the results'), and the List's."""
    if lab.derive:
        subjects = lab_subjects(parsed)
    else:
        subjects = [(d, f"{d.path}.subject") for d in shape.document_references]
    lst = shape.submission_set
    if lst is not None and lst.raw.get("subject") is not None:
        subjects.append((lst, f"{lst.path}.subject"))
    return subjects


def _documents(
    parsed: ParsedRequest,
    shape: RequestShape,
    lab: LabRoute,
    patient: Patient | None,
    source_patient_id: str | None,
    mc: MappingContext,
    catalogue: Catalogue,
) -> list[tuple[ParsedEntry, DocumentRequest]]:
    """Every document of the submission, with the entry it comes from: the derived lab document, or one per
    DocumentReference (a CR-BIO one built from the bundle's results)."""
    mapped: list[tuple[ParsedEntry, DocumentRequest]] = []
    if lab.derive:
        derived = derived_lab_document(parsed, patient, source_patient_id, mc, catalogue)
        if derived is not None:
            mapped.append(derived)
    row = catalogue.by_key("cr-bio")
    for number, doc in enumerate(shape.document_references, start=1):
        mc.mark(doc, "document", number - 1)
        related = read_related(doc, mc)
        is_lab = lab.is_lab(doc)
        level3 = row.n3_format_code if is_lab and row is not None else None
        request = to_document_request(
            doc, number, patient, source_patient_id, mc, related=related, level3_format=level3
        )
        if is_lab:
            request = as_lab_report(parsed, doc, request, related, mc, catalogue, number - 1)
        if request is not None:
            mapped.append((doc, request))
    return mapped


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


def _drop_duplicates(report: ValidationReport) -> None:
    seen: set[tuple[object, ...]] = set()
    unique: list[Issue] = []
    for issue in report.issues:
        key = (issue.problem, issue.expression, issue.severity, repr(sorted(issue.details.items())))
        if key not in seen:
            seen.add(key)
            unique.append(issue)
    report.issues[:] = unique


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


def _submission_unique_id(lst: ParsedEntry | None, mc: MappingContext) -> tuple[str, bool]:
    """The SubmissionSet uniqueId, and whether the client gave it."""
    if lst is not None:
        identifiers = [i for i in lst.raw.get("identifier") or [] if isinstance(i, dict)]
        ordered = sorted(identifiers, key=lambda i: 0 if i.get("use") == "usual" else 1)
        for ident in ordered:
            value = str(ident.get("value") or "")
            if value.lower().startswith("urn:oid:") and oid_from_urn(value):
                return oid_from_urn(value) or "", True
    new_id = mc.build.new_oid()
    mc.report.inform(
        Problem.INFORMATION,
        expression=f"{lst.path}.identifier" if lst else None,
        text=f"no urn:oid SubmissionSet identifier: the submission set uniqueId {new_id} was generated",
    )
    return new_id, False


def _content_type(lst: ParsedEntry | None, parsed: ParsedRequest, lab: LabRoute, mc: MappingContext) -> Code | None:
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
    lab_only = lab_content_type(lab, mc)
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
