"""CapabilityStatement and OperationDefinition served by the facade (GET [base]/metadata).

Built in code from the routes the app really mounts, so it cannot drift from them; tests parse both with the
R4B models and check the invariants testers run (kind=instance needs `implementation`, etc.).
"""

from __future__ import annotations

from typing import Any

from facade import __version__

MHD_RECIPIENT = "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentRecipient"
PDSM_IG = "https://interop.esante.gouv.fr/ig/fhir/pdsm/ImplementationGuide/ans.fhir.fr.pdsm"
PDSM_BUNDLE = (
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-provide-document-bundle"
)
PDSM_SIMPLIFIED = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-simplified-publish"
PREVIEW_OPERATION = "http://dmp-facade.invalid/fhir/OperationDefinition/preview"


def _param(name: str, type_: str, doc: str) -> dict[str, Any]:
    return {"name": name, "type": type_, "documentation": doc}


# GET [base]/DocumentReference (facade/dmp/search_params.py): PDSm ITI-67 as P4D TD3.1 maps it to ITI-18
DOCUMENT_SEARCH_PARAMS = [
    _param("patient.identifier", "token", "Required: <INS system>|<INS> (the VIHF names this patient)"),
    _param("status", "token", "Required without identifier: current, superseded, entered-in-error"),
    _param("identifier", "token", "urn:ietf:rfc:3986|urn:oid:<uniqueId> (or urn:uuid:<entryUUID>): GetDocuments"),
    _param("type", "token", "$XDSDocumentEntryTypeCode (system|code)"),
    _param("category", "token", "$XDSDocumentEntryClassCode"),
    _param("facility", "token", "$XDSDocumentEntryHealthcareFacilityTypeCode"),
    _param("setting", "token", "$XDSDocumentEntryPracticeSettingCode"),
    _param("format", "token", "$XDSDocumentEntryFormatCode"),
    _param("security-label", "token", "$XDSDocumentEntryConfidentialityCode"),
    _param("event", "token", "$XDSDocumentEntryEventCodeList"),
    _param("date", "date", "creationTime (eq, ge, gt, le, lt)"),
    _param("period", "date", "service period overlap (ge -> ServiceStopTimeFrom, le -> ServiceStartTimeTo)"),
    _param("related", "token", "$XDSDocumentEntryReferenceIdList (urn:oid:<authority>|<id>)"),
    _param("_count", "number", "page size (default 20, at most 100); follow the next link for the rest"),
]


def _dmp_resources(send_enabled: bool) -> list[dict[str, Any]]:
    """TD0.2 and TD3.2: resources the facade reads from the DMP."""
    return [
        {
            "type": "Patient",
            "interaction": [{"code": "search-type"}] if send_enabled else [],
            "searchParam": [
                {"name": "identifier", "type": "token", "documentation": "<INS system>|<INS>: one patient"},
            ],
            "documentation": "TD0.2 test of existence of the patient's DMP (HL7v3 PRPA_IN201307UV02): a searchset "
            "with the Patient as the DMP knows it (active = the DMP is open; dmp-fermeture, dmp-medecin-traitant, "
            "dmp-rattachement-mes extensions), or no Patient and an OperationOutcome when there is no DMP.",
        },
        {
            "type": "Binary",
            "interaction": [{"code": "read"}] if send_enabled else [],
            "documentation": "TD3.2: GET [base]/Binary/{uniqueId}?patient.identifier=<INS system>|<INS> reads a "
            "document from the DMP (ITI-43): its own bytes, or a Binary with Accept: application/fhir+json. "
            "Refused (403) to a structure certificate in INDIRECTE mode (the DMP rights matrix).",
        },
    ]


def capability_statement(base_url: str, *, date: str, send_enabled: bool) -> dict[str, Any]:
    bundle_ops = [{"name": "preview", "definition": PREVIEW_OPERATION}]
    resources: list[dict[str, Any]] = [
        {
            "type": "Bundle",
            "supportedProfile": [PDSM_BUNDLE],
            "operation": bundle_ops,
            "documentation": "POST [base]/Bundle/$preview converts an ITI-65 transaction bundle (or a single "
            "ITI-105 DocumentReference) into the CI-SIS CDA, the XDS metadata and a validation report, "
            "without sending.",
        },
        {
            "type": "DocumentReference",
            "supportedProfile": [PDSM_SIMPLIFIED],
            "interaction": [{"code": "create"}, {"code": "read"}, {"code": "search-type"}, {"code": "patch"}]
            if send_enabled
            else [],
            "conditionalDelete": "not-supported",
            "operation": bundle_ops,
            "searchParam": DOCUMENT_SEARCH_PARAMS if send_enabled else [],
            "documentation": "ITI-105 simplified publish: POST a DocumentReference with content.attachment.data. "
            "GET [base]/DocumentReference/{id} reads a document the facade accepted (id: its entryUUID's UUID). "
            "GET [base]/DocumentReference?patient.identifier=<INS system>|<INS>&status=... searches the patient's "
            "documents in the DMP (TD3.1, ITI-18; identifier=urn:ietf:rfc:3986|urn:oid:<uniqueId> for one), "
            "paged by _count and the next link; Prefer: handling=strict refuses unknown parameters. "
            "PATCH [base]/DocumentReference/{id} or, conditionally, ?identifier=urn:ietf:rfc:3986|urn:oid:<uniqueId> "
            "(JSON Patch or FHIRPath Patch on status, securityLabel, pdsm-ext-is-archived only): DMP TD3.3a/b "
            "masking and visibility, TD3.3d archive/unarchive, TD3.3c delete (status entered-in-error); DELETE is "
            "405. Masking and archiving need FACADE_VIHF__AUTH_MODE=INDIRECTE_RENFORCEE (403 in INDIRECTE).",
        },
        {
            "type": "OperationDefinition",
            "interaction": [{"code": "read"}],
        },
        {
            "type": "Task",
            "interaction": [{"code": "read"}] if send_enabled else [],
            "documentation": "Status of a submission: GET [base]/Task/{id} (the Content-Location of a 202 answer).",
        },
        *_dmp_resources(send_enabled),
        {
            "type": "AuditEvent",
            "interaction": [{"code": "search-type"}] if send_enabled else [],
            "searchParam": [
                {"name": "entity", "type": "token", "documentation": "submission id"},
                {"name": "date", "type": "date", "documentation": "ge/le instants"},
            ],
            "documentation": "Audit trail of submissions (patients appear only as a keyed hash of the INS).",
        },
    ]
    rest: dict[str, Any] = {
        "mode": "server",
        "documentation": "FHIR facade feeding the DMP (TD2.1 / IHE XDS.b ITI-41) from PDSm (MHD) submissions.",
        "security": {
            "cors": False,
            "description": "Deployment-specific: mutual TLS or OAuth2 bearer tokens in front of the facade.",
        },
        "resource": [r for r in resources if r.get("interaction") or r.get("operation")],
    }
    if send_enabled:
        rest["interaction"] = [{"code": "transaction", "documentation": "ITI-65 Provide Document Bundle -> ITI-41"}]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "DMP facade",
        "kind": "instance",
        "instantiates": [MHD_RECIPIENT],
        "software": {"name": "dmp-facade", "version": __version__},
        "implementation": {"description": "DMP facade (FHIR R4 -> CI-SIS CDA R2 -> XDS.b)", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "implementationGuide": [PDSM_IG],
        "rest": [rest],
    }


def preview_operation_definition() -> dict[str, Any]:
    def out(name: str, type_: str, doc: str, max_: str = "1") -> dict[str, Any]:
        return {"name": name, "use": "out", "min": 0, "max": max_, "type": type_, "documentation": doc}

    return {
        "resourceType": "OperationDefinition",
        "id": "preview",
        "url": PREVIEW_OPERATION,
        "name": "Preview",
        "title": "Preview the DMP submission without sending it",
        "status": "active",
        "kind": "operation",
        "code": "preview",
        "resource": ["Bundle", "DocumentReference"],
        "system": False,
        "type": True,
        "instance": False,
        "parameter": [
            {
                "name": "validate",
                "use": "in",
                "min": 0,
                "max": "1",
                "type": "code",
                "documentation": "'xsd' (default): CDA_extended.xsd; 'full': also the structuration-minimale "
                "and document-type schematrons.",
            },
            {
                "name": "document",
                "use": "out",
                "min": 0,
                "max": "*",
                "documentation": "One per document of the submission.",
                "part": [
                    out("entry", "uri", "fullUrl of the DocumentReference in the request"),
                    out("uniqueId", "string", "XDS uniqueId = CDA ClinicalDocument/id/@root"),
                    out("cda", "base64Binary", "The CDA R2 document"),
                    out("metadata", "string", "XDS metadata of the submission (ebRIM RegistryObjectList)"),
                    out("outcome", "OperationOutcome", "Validation result for this document"),
                ],
            },
            out("outcome", "OperationOutcome", "Validation result of the whole submission"),
        ],
    }
