"""What the document registry records of a conversion, and the replacement rules checked against it (issue 10).

Runs between conversion and enqueue: a replacement must name a document of the same patient that is still the
latest version (not deprecated by the DMP, not already being replaced by a live submission)."""

from __future__ import annotations

import hashlib

from facade.errors import FacadeError, Problem
from facade.fhir.request_body import RequestBody
from facade.model.document import NonXmlBody, RenderedDocument
from facade.outbox.registry import Availability, DocumentEntry
from facade.outbox.store import Outbox
from facade.pipeline import Conversion


def content_sha256(doc: RenderedDocument) -> str:
    """The hash of what the client sent as the document (not of the CDA the facade rendered around it, which
    carries fresh timestamps): the supplied CDA, the N1 body bytes, else the structured content's model."""
    document = doc.request.document
    digest = hashlib.sha256()
    if document.passthrough is not None:
        digest.update(document.passthrough)
    elif isinstance(document.body, NonXmlBody):  # in two updates: no copy of a multi-megabyte body
        digest.update(document.body.media_type.encode() + b"\0")
        digest.update(document.body.data)
    else:
        digest.update(repr(document.body).encode())
    return "sha256:" + digest.hexdigest()


def registry_entries(conversion: Conversion, site: str = "") -> tuple[DocumentEntry, ...]:
    """The registry rows of a conversion; ``site``: the FINESS EG of the emitting site (the facility's)."""
    out = []
    for doc in conversion.documents:
        request, document = doc.request, doc.request.document
        t, service = document.type_code, document.service_event
        out.append(
            DocumentEntry(
                unique_id=document.id,
                entry_uuid=request.entry_id,
                set_id=document.set_id,
                version=document.version,
                type_code=(t.system, t.code, t.display),
                confidentiality=tuple((c.system, c.code, c.display) for c in request.confidentiality_codes),
                title=document.title,
                mime_type="text/xml",
                sha1_hex=doc.sha1_hex,
                size=doc.size,
                content_sha256=content_sha256(doc),
                replaces_unique_id=document.replaces_id,
                replaces_entry_uuid=request.replaces_entry_uuid,
                site=site,
                document_time=document.effective_time,
                service_time=service.end or service.start,
            )
        )
    return tuple(out)


def refusal_detail(body: RequestBody, conversion: Conversion | None, site: str) -> dict[str, str]:
    """What the audit trail keeps of a refused submission for the infocentre: the emitting site and the type of its
    (first) document, from the conversion when it got that far, else as the client declared it (best effort)."""
    if conversion is not None and conversion.documents:
        return {"site": site, "type": conversion.documents[0].request.document.type_code.code}
    return {"site": site, "type": body.document_type()}


def meaning_fingerprint(conversion: Conversion, patient_hash: str) -> str:
    """What a submission means, independent of how its JSON was serialised: its patient, its documents (uniqueId,
    entryUUID, content hash) and the SubmissionSet uniqueId when the client gave one (a generated one is not part of
    the meaning). Two requests with the same meaning from one client are one submission."""
    items = sorted(f"{d.request.document.id} {d.request.entry_id}={content_sha256(d)}" for d in conversion.documents)
    mapping = conversion.mapping
    given = mapping.submission.unique_id if mapping.submission_id_given else ""
    return "sha256:" + hashlib.sha256("\n".join([patient_hash, given, *items]).encode()).hexdigest()


def check_replacements(conversion: Conversion, patient_hash: str, outbox: Outbox, actor: str) -> None:
    """Raise for a replacement of another patient's document or of a document already replaced. A target the
    registry does not know passed the explicit route (the client gave its setId and entryUUID)."""
    for n, doc in enumerate(conversion.documents):
        request = doc.request
        if request.replaces_entry_uuid is None:
            continue
        expr = _expression(conversion, n)
        old = outbox.find_document(entry_uuid=request.replaces_entry_uuid)
        if old is None:
            continue
        if old.patient_hash != patient_hash:
            raise FacadeError(Problem.REPLACED_OTHER_PATIENT, expression=expr, unique_id=old.unique_id)
        if old.availability is Availability.DEPRECATED:
            by = f"by {old.replaced_by}" if old.replaced_by else "deprecated"
            raise FacadeError(Problem.REPLACED_SUPERSEDED, expression=expr, unique_id=old.unique_id, by=by)
        pending = [r for r in outbox.replacements_of(old.entry_uuid) if r.unique_id != request.document.id]
        if pending:  # another client's submission is not named
            mine = pending[0].actor == actor
            by = f"by {pending[0].unique_id}, submission {pending[0].submission_id}" if mine else "by another client"
            raise FacadeError(Problem.REPLACED_SUPERSEDED, expression=expr, unique_id=old.unique_id, by=by)


def _expression(conversion: Conversion, n: int) -> str:
    """FHIRPath of document ``n``'s relatesTo (an ITI-105 body is one DocumentReference, its only entry)."""
    entries = conversion.mapping.entries
    if len(entries) > 1:
        for entry in entries:
            if entry.role == "document" and entry.document_index == n:
                return f"Bundle.entry[{entry.index}].resource.relatesTo[0]"
    return "DocumentReference.relatesTo[0]"


__all__ = ["check_replacements", "content_sha256", "meaning_fingerprint", "refusal_detail", "registry_entries"]
