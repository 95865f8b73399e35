"""One submission, from request bytes to artefacts: parse -> validate/map -> render CDA -> XSD -> XDS metadata.

No FastAPI here and no network: the preview endpoint, the CLI and the feeding path all call ``Converter.convert``.
Clock and id factory are injected so the output is deterministic under test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from facade.cda.canonical import CanonicalDocument
from facade.cda.render import CdaRenderer
from facade.cda.validation import CdaSchema, FullValidator
from facade.cda.volet import supplied_cda_issues
from facade.errors import BundleValidationError, DocumentBuildError, Issue, Problem
from facade.fhir.parse import parse_request
from facade.fhir.request_body import RequestBody
from facade.mapping.bundle_to_submission import InputPolicy, MappingResult, to_submission
from facade.model.document import BuildContext, ClinicalDocument, FacilitySettings, RenderedDocument, SignatureDocument
from facade.terminology.tables import Terminology
from facade.xds.ebrim import to_registry_object_list, to_submit_objects_request


@dataclass(frozen=True)
class Conversion:
    """Everything built from one request, before signing and sending."""

    mapping: MappingResult
    documents: tuple[RenderedDocument, ...]
    issues: tuple[Issue, ...]  # mapping warnings + validation of what we produced (per-document ones in by_document)
    by_document: dict[str, tuple[Issue, ...]] = field(default_factory=dict)  # uniqueId -> issues

    @property
    def valid(self) -> bool:
        return not any(i.is_error for i in self.all_issues())

    def all_issues(self) -> list[Issue]:
        out = list(self.issues)
        for issues in self.by_document.values():
            out.extend(issues)
        return out

    def metadata(self, signature: SignatureDocument | None = None) -> etree._Element:
        return to_registry_object_list(self.mapping.submission, self.documents, signature)

    def submit_objects_request(self, signature: SignatureDocument | None = None) -> etree._Element:
        return to_submit_objects_request(self.mapping.submission, self.documents, signature)


@dataclass
class Converter:
    terminology: Terminology
    renderer: CdaRenderer
    facility: FacilitySettings
    policy: InputPolicy
    now: Callable[[], datetime]
    new_oid: Callable[[], str]
    schema: CdaSchema | None = None
    full_validator: FullValidator | None = None
    max_json_depth: int = 64

    def convert(self, body: bytes | RequestBody, *, full: bool = False) -> Conversion:
        """Raises BundleParseError / BundleValidationError for bad input; reports output validation as issues.
        A ``RequestBody`` is emptied by the parser: pass one to have the bytes freed once decoded."""
        parsed = parse_request(body, max_depth=self.max_json_depth)
        ctx = BuildContext(facility=self.facility, now=self.now(), new_oid=self.new_oid)
        mapping = to_submission(parsed, ctx, self.terminology, self.policy)
        root = parsed.root
        del parsed  # the request's dict holds each attachment's base64 text: not kept alive through the rendering
        # The canonical (C14N with comments) bytes are what is hashed, sized, signed in the XAdES manifest and sent:
        # the manifest digest then equals the digest of the bytes on the wire, whether or not the receiver applies
        # the manifest's C14N transform (spec digest §4.2, the safer reading).
        # Each CDA is parsed once: that tree is canonicalised and XSD-checked, and the XAdES signer hashes the
        # canonical bytes as they are (CanonicalXml).
        parsed_docs = [self.renderer.render_canonical(req.document) for req in mapping.submission.documents]
        rendered = tuple(
            RenderedDocument(req, self._bytes_sent(req.document, c))
            for req, c in zip(mapping.submission.documents, parsed_docs, strict=True)
        )
        by_document: dict[str, tuple[Issue, ...]] = {}
        supplied_errors: list[Issue] = []
        for n, (doc, canonical) in enumerate(zip(rendered, parsed_docs, strict=True)):
            if doc.request.document.passthrough is not None:
                # A ready-made CDA: XSD, structuration minimale and its own volet/version; failures are the
                # sender's (422 at the attachment), never ours.
                where = _attachment_expression(root, mapping, n)
                supplied = supplied_cda_issues(doc.cda, where, self.schema, self.full_validator)
                supplied_errors += [i for i in supplied if i.is_error]
                by_document[doc.request.document.id] = tuple(i for i in supplied if not i.is_error)
                continue
            by_document[doc.request.document.id] = tuple(self._check(doc, canonical, full=full))
        if supplied_errors:
            raise BundleValidationError(supplied_errors[0].problem, issues=supplied_errors)
        return Conversion(mapping, rendered, tuple(mapping.warnings), by_document)

    def _bytes_sent(self, document: ClinicalDocument, canonical: CanonicalDocument) -> bytes:
        """A ready-made CDA goes as received (``policy.ready_made_bytes``); what we render goes canonical."""
        if document.passthrough is not None and self.policy.ready_made_bytes == "received":
            return document.passthrough
        return canonical.cda

    def _check(self, doc: RenderedDocument, canonical: CanonicalDocument, *, full: bool) -> Sequence[Issue]:
        artefact = f"CDA {doc.request.document.id}"
        issues: list[Issue] = []
        if self.schema is not None:  # lines are those of the canonical bytes sent
            issues += self.schema.tree_issues(canonical.tree, artefact, canonical.line)
        if full:
            if self.full_validator is None:
                issues.append(Issue(Problem.VALIDATION_KIT_MISSING, details={"reason": "no validation kit configured"}))
            else:
                issues += self.full_validator.issues(doc.cda, artefact)
        return issues


def require_valid(conversion: Conversion) -> None:
    """The feeding path never sends an artefact that failed validation: that is our bug (500), not the caller's."""
    errors = [i for i in conversion.all_issues() if i.is_error]
    if errors:
        # the leading 500 issue sets the status: the details (OUTPUT_XSD, 422 in a $preview) are not the caller's fault
        summary = Issue(
            Problem.CDA_NOT_SCHEMA_VALID, details={"reason": f"{len(errors)} problem(s), listed in the next issues"}
        )
        raise DocumentBuildError(Problem.CDA_NOT_SCHEMA_VALID, issues=[summary, *errors])


def _attachment_expression(root: str, mapping: MappingResult, document_index: int) -> str:
    """FHIRPath of the attachment that carried document ``document_index``."""
    for entry in mapping.entries:
        if entry.role == "document" and entry.document_index == document_index and root == "Bundle":
            return f"Bundle.entry[{entry.index}].resource.content[0].attachment"
    return f"{root}.content[0].attachment" if root == "DocumentReference" else root
