"""Input policy and the request-level checks (what the request must contain before anything is mapped).

Profile rules that need a resource's meaning (INS, codes, authors...) are checked while mapping
(``facade.mapping``), in the same pass, into the same ``ValidationReport``: the caller gets every problem at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from facade.errors import Problem, ValidationReport
from facade.fhir.parse import ParsedEntry, ParsedRequest
from facade.model.document import Code
from facade.model.identifiers import INS_OIDS_PRODUCTION

# Structuration minimale N1 bodies (spec digest §6.2)
N1_MEDIA_TYPES: frozenset[str] = frozenset({"application/pdf", "text/plain", "text/rtf", "image/jpeg", "image/tiff"})
# Media types under which an already-built CDA may arrive (passed through when the root is ClinicalDocument)
CDA_MEDIA_TYPES: frozenset[str] = frozenset(
    {
        "application/hl7-cda+xml",
        "application/xml",
        "text/xml",
        "application/cda+xml",
        "application/hl7-v3+xml",
        "application/xslt+xml",  # an auto-presentable CDA (an XSLT embedding the ClinicalDocument)
    }
)
MHD_LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"

AuthorInstitution = Literal["site", "bundle"]


@dataclass(frozen=True)
class InputPolicy:
    """What this installation accepts. Defaults are the production-safe choices."""

    accepted_ins_oids: frozenset[str] = INS_OIDS_PRODUCTION
    """INS OIDs accepted: production NIR/NIA only; test (.4.10) and demo (.4.11) need explicit configuration."""
    max_document_bytes: int = 20 * 1024 * 1024
    """Decoded size limit of one document's content (CONTENT_TOO_LARGE, 413)."""
    allowed_media_types: frozenset[str] = N1_MEDIA_TYPES
    """Media types wrapped in a structuration-minimale N1 CDA."""
    cda_media_types: frozenset[str] = CDA_MEDIA_TYPES
    """Media types checked for an existing ClinicalDocument (passed through, not re-wrapped)."""
    accept_legacy_vali: bool = False
    """Accept identityStatus VALI of the legacy HL7 table 0445 as 'qualified' (older FR Core/PAM-FR). Off: only
    QUAL of the current FR Core code system qualifies an identity (spec digest §5.3, the safer reading)."""
    default_content_type: Code | None = None
    """SubmissionSet contentTypeCode (JDV_J59) when the bundle has none (no designationType, or ITI-105)."""
    require_submission_set: bool = True
    """ITI-65 bundles must carry a SubmissionSet List (PDSm comprehensive)."""
    author_institution: AuthorInstitution = "site"
    """Whose structure an author belongs to (CDA author and legalAuthenticator representedOrganization, XDS
    DocumentEntry authorInstitution). "site" (default): always the emitting site (ctx.facility, "1" + FINESS
    géographique), identical to the SubmissionSet authorInstitution and the custodian: the PFI over-constraint
    (spec digest §3.2, [UNCERTAIN] whether the DMP enforces it) and the facility rule (§3.5). The bundle's
    Organization is still validated; one of another structure gets an information issue. "bundle": an author's
    PractitionerRole.organization with a national structure id is used as is (DE and SS may then differ)."""
    allow_masked_and_invisible: bool = False
    """The DMP parameter that allows MASQUE_PS together with INVISIBLE_PATIENT on one document (compatibility rule
    EX_2.1-1050). Off: the combination is refused before anything is built, the DMP's default as issue 10 states it
    (the rule's text was not found, spec digest lifecycle §5 [UNCERTAIN]: the safer reading)."""
    require_confidentiality_label: bool = True
    """The visibility decision is explicit (spec digest lifecycle §5 [REC]): each DocumentReference states at least
    its HL7 confidentiality code (N/R/V) in ``securityLabel`` (MHD/PDSm comprehensive: 1..*). Off, a missing one means
    N; a minor's document always needs it (whether the legal representatives see it is a decision)."""
    stylesheet_pi: Literal["warn", "refuse"] = "warn"
    """A ready-made CDA with an ``xml-stylesheet`` PI pointing at a separate stylesheet (the DMP wants a CDA that needs
    none, or an auto-presentable one): warned (the bytes are never altered: hash, size, signature), or refused."""
    ins_trait_mismatch: Literal["warning", "error"] = "warning"
    """An INS whose sex digit or birth year/month contradicts gender/birthDate: the spec digest does not say
    whether to refuse; the INSi answer is the authority and birth dates get corrected, so a warning by default."""
    ready_made_bytes: Literal["received", "canonical"] = "received"
    """The bytes sent for a ready-made CDA. "received" (default): exactly the bytes the DPI sent (pdsm4dmp §1.5
    [REC] never alter them: the DPI's hash and size stay true, an enveloped signature stays valid); the XAdES
    manifest digest is still the SHA-1 of their C14N-with-comments form, as its transform says. "canonical": their
    C14N-with-comments form (what DRIM sends, so that a receiver ignoring the manifest transform still matches)."""


@dataclass(frozen=True)
class RequestShape:
    """The entries that matter, found once."""

    submission_set: ParsedEntry | None
    document_references: tuple[ParsedEntry, ...]


def is_submission_set(entry: ParsedEntry) -> bool:
    if entry.resource_type != "List":
        return False
    codings = ((entry.raw.get("code") or {}).get("coding")) or []
    return any(c.get("code") == "submissionset" for c in codings if isinstance(c, dict))


def check_shape(parsed: ParsedRequest, policy: InputPolicy, report: ValidationReport) -> RequestShape:
    """Bundle.type, one SubmissionSet List, at least one DocumentReference."""
    if parsed.kind == "iti105":
        return RequestShape(None, parsed.entries)
    bundle_type = parsed.raw.get("type")
    if bundle_type != "transaction":
        report.add(Problem.WRONG_BUNDLE_TYPE, expression="Bundle.type", got=bundle_type, expected="transaction")
    lists = [e for e in parsed.entries if is_submission_set(e)]
    docs = tuple(e for e in parsed.entries if e.resource_type == "DocumentReference")
    if not docs:
        report.add(Problem.MISSING_RESOURCE, expression="Bundle.entry", resource="DocumentReference")
    if not lists and policy.require_submission_set:
        report.add(Problem.MISSING_RESOURCE, expression="Bundle.entry", resource="SubmissionSet List")
    for extra in lists[1:]:
        report.add(
            Problem.INVALID_VALUE,
            expression=extra.path,
            element="Bundle.entry",
            reason="a submission has exactly one SubmissionSet List",
        )
    for entry in parsed.entries:
        reason = unsupported_entry(entry)
        if reason is not None:  # a transaction is atomic: one entry the facade cannot honour refuses it all
            report.add(
                Problem.INVALID_VALUE,
                expression=entry.path.replace(".resource", ".request"),
                element=f"Bundle.entry[{entry.index}] ({entry.request_method or 'no method'} {entry.request_url})",
                reason=reason,
            )
    return RequestShape(lists[0] if lists else None, docs)


def unsupported_entry(entry: ParsedEntry) -> str | None:
    """Why the facade cannot process this transaction entry (None: it can). POST/PUT of a resource are read as
    the submission's content; PATCH only as PDSm-for-DMP's replacement entry (a FHIRPath Patch ``Parameters``
    setting ``DocumentReference.status`` to ``superseded``; that it names the replaced document is checked with
    the replacement, ``facade.mapping.replacement``). Nothing else is done to the DMP from a transaction."""
    method = entry.request_method
    if method == "PATCH" and not is_replacement_patch(entry):
        return (
            "the only PATCH understood is the replacement one: url DocumentReference/<id of the replaced document>, "
            "a FHIRPath Patch Parameters replacing DocumentReference.status with superseded"
        )
    if method not in (None, "POST", "PUT", "PATCH"):
        return (
            f"{method} is not supported in a provide-document transaction (the DMP's documents change by "
            "replacement: a new version)"
        )
    if not entry.resource_type:
        return "an entry without a resource is not supported"
    return None


def is_replacement_patch(entry: ParsedEntry) -> bool:
    url = entry.request_url or ""
    if entry.resource_type != "Parameters" or not url.startswith("DocumentReference"):
        return False
    operations = [p for p in entry.raw.get("parameter") or [] if isinstance(p, dict)]
    if len(operations) != 1 or operations[0].get("name") != "operation":
        return False
    parts = {p.get("name"): p for p in operations[0].get("part") or [] if isinstance(p, dict)}
    return (
        (parts.get("type") or {}).get("valueCode") == "replace"
        and (parts.get("path") or {}).get("valueString") == "DocumentReference.status"
        and (parts.get("value") or {}).get("valueCode") == "superseded"
    )


__all__ = [
    "CDA_MEDIA_TYPES",
    "AuthorInstitution",
    "N1_MEDIA_TYPES",
    "InputPolicy",
    "RequestShape",
    "check_shape",
    "is_replacement_patch",
    "is_submission_set",
    "unsupported_entry",
]
