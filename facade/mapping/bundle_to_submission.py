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
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facade.errors import Issue, Problem, ValidationReport
from facade.fhir.parse import ParsedEntry, ParsedRequest
from facade.fhir.references import ReferenceResolver, Resolved
from facade.fhir.validate import InputPolicy, check_shape
from facade.mapping.authors import PERSON_TYPES, site_organization, to_person
from facade.mapping.context import MappingContext, extension
from facade.mapping.document import to_document_request
from facade.mapping.patient import to_patient
from facade.model.document import Author, BuildContext, Code, DocumentRequest, Patient, Submission
from facade.model.identifiers import oid_from_urn
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


def to_submission(
    parsed: ParsedRequest, ctx: BuildContext, terminology: Terminology, policy: InputPolicy
) -> MappingResult:
    """Raises BundleValidationError (every issue, FHIRPath expressions) when the request cannot be submitted."""
    mc = MappingContext(ctx, terminology, policy, ReferenceResolver(parsed), ValidationReport())
    shape = check_shape(parsed, policy, mc.report)
    patient, patient_target = _patient(parsed, shape.document_references, shape.submission_set, mc)
    source_patient_id = _source_patient_id(patient) if patient else None

    mapped: list[tuple[ParsedEntry, DocumentRequest]] = []
    for number, doc in enumerate(shape.document_references, start=1):
        mc.mark(doc, "document", number - 1)
        request = to_document_request(doc, number, patient, source_patient_id, mc)
        if request is not None:
            mapped.append((doc, request))
    _check_unique_ids(mapped, mc)
    documents = [request for _, request in mapped]

    lst = shape.submission_set
    unique_id = _submission_unique_id(lst, mc)
    content_type = _content_type(lst, parsed, mc)
    author = _submission_author(lst, documents, mc)
    if lst is not None:
        mc.mark(lst, "submission-set")
        _check_list_entries(lst, shape.document_references, mc)
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
    parsed: ParsedRequest, docs: tuple[ParsedEntry, ...], lst: ParsedEntry | None, mc: MappingContext
) -> tuple[Patient | None, Resolved | None]:
    """The one patient of the submission, from every DocumentReference.subject (and List.subject)."""
    subjects: list[tuple[ParsedEntry, str]] = [(d, f"{d.path}.subject") for d in docs]
    if lst is not None and lst.raw.get("subject") is not None:
        subjects.append((lst, f"{lst.path}.subject"))
    has_patient = any(e.resource_type == "Patient" for e in parsed.entries) or any(
        isinstance(c, dict) and c.get("resourceType") == "Patient" for d in docs for c in d.raw.get("contained") or []
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


def _submission_unique_id(lst: ParsedEntry | None, mc: MappingContext) -> str:
    if lst is not None:
        identifiers = [i for i in lst.raw.get("identifier") or [] if isinstance(i, dict)]
        ordered = sorted(identifiers, key=lambda i: 0 if i.get("use") == "usual" else 1)
        for ident in ordered:
            value = str(ident.get("value") or "")
            if value.lower().startswith("urn:oid:") and oid_from_urn(value):
                return oid_from_urn(value) or ""
    new_id = mc.build.new_oid()
    mc.report.warn(
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
    for i, item in enumerate(lst.raw.get("entry") or []):
        ref = (item or {}).get("item")
        target = mc.resolve(ref, lst, f"{lst.path}.entry[{i}].item", expected=("DocumentReference", "List"))
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
