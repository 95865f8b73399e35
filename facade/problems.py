"""The catalogue: every problem the facade can report, with its stable code, FHIR IssueType, HTTP status and message.

A `Problem` member pairs our stable code (shown in ``OperationOutcome.issue.details.coding.code`` under
``PROBLEM_SYSTEM``) with a FHIR IssueType, an HTTP status and a message template. ``facade.errors`` holds the
error tree, ``Issue`` and ``ValidationReport`` built on it (and re-exports these names: import them from either).
Add a member here before raising it anywhere; keep codes stable (clients match on them).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

PROBLEM_SYSTEM = "https://github.com/dmp-facade/dmp-facade/problem"
XDS_ERROR_SYSTEM = "urn:ihe:iti:xds:2007:errorCode"  # carries RegistryError/@errorCode in details.coding


@dataclass(frozen=True)
class Spec:
    code: str  # stable, kebab-case
    issue_type: str  # FHIR IssueType code
    http_status: int
    message: str  # str.format template over the error's details
    severity: str = "error"  # fatal | error | warning | information


class Problem(Enum):
    """The catalogue. Value = Spec(code, FHIR issue type, HTTP status, message template)."""

    # --- request body / structure (400) ---
    BODY_NOT_JSON = Spec("body-not-json", "structure", 400, "The request body is not JSON: {reason}")
    BODY_TOO_LARGE = Spec("body-too-large", "too-costly", 413, "The request body is {size} bytes; the limit is {limit}")
    BODY_TOO_DEEP = Spec("body-too-deep", "structure", 400, "The JSON is nested deeper than {limit} levels")
    UNSUPPORTED_MEDIA_TYPE = Spec(
        "unsupported-media-type", "not-supported", 415, "Content-Type {content_type} is not supported; send {accepted}"
    )
    NOT_A_BUNDLE = Spec("not-a-bundle", "structure", 400, "Expected a {expected}, got resourceType {got}")
    FHIR_STRUCTURE = Spec("fhir-structure", "structure", 400, "{reason}")

    # --- bundle content (422) ---
    WRONG_BUNDLE_TYPE = Spec("wrong-bundle-type", "value", 422, "Bundle.type is {got}; expected {expected}")
    MISSING_RESOURCE = Spec("missing-resource", "required", 422, "The bundle has no {resource}")
    MISSING_ELEMENT = Spec("missing-element", "required", 422, "{element} is required")
    UNRESOLVED_REFERENCE = Spec(
        "unresolved-reference", "not-found", 422, "Reference {reference} does not resolve inside the bundle"
    )
    INVALID_VALUE = Spec("invalid-value", "value", 422, "{element}: {reason}")
    INS_KEY_MISMATCH = Spec("ins-key-mismatch", "value", 422, "INS {ins}: key {key}, expected {expected}")
    INS_MALFORMED = Spec("ins-malformed", "value", 422, "INS {ins} is not a 15-character NIR/NIA: {reason}")
    INS_OID_NOT_ALLOWED = Spec(
        "ins-oid-not-allowed", "value", 422, "INS system {system} is not accepted here; accepted: {accepted}"
    )
    IDENTITY_NOT_QUALIFIED = Spec(
        "identity-not-qualified",
        "business-rule",
        422,
        "The INS may only be used for a qualified identity (identityStatus QUAL); this one is {status}",
    )
    SUBJECT_MISMATCH = Spec(
        "subject-mismatch",
        "business-rule",
        422,
        "{element} designates {reference}, not the document's patient (INS {ins}): results of another patient",
    )
    MISSING_AUTHOR_IDENTIFIER = Spec(
        "missing-author-identifier", "required", 422, "Author {author} has no national identifier ({accepted})"
    )
    UNKNOWN_CODE = Spec(
        "unknown-code", "code-invalid", 422, "{element}: {system}|{code} is not in {value_set}; accepted: {accepted}"
    )
    CONTENT_TYPE_NOT_ALLOWED = Spec(
        "content-type-not-allowed",
        "not-supported",
        422,
        "Content type {content_type} is not allowed; accepted: {accepted}",
    )
    CONTENT_TOO_LARGE = Spec("content-too-large", "too-costly", 413, "{element} is {size} bytes; the limit is {limit}")
    CDA_HEADER_MISMATCH = Spec(
        "cda-header-mismatch", "business-rule", 422, "{element} is {fhir_value} but the CDA header says {cda_value}"
    )
    CDA_INPUT_INVALID = Spec("cda-input-invalid", "invalid", 422, "The CDA document supplied is not valid: {reason}")
    XML_FORBIDDEN_CONSTRUCT = Spec("xml-forbidden", "security", 400, "XML with a DTD or entities is refused: {reason}")
    INS_KIND_MISMATCH = Spec("ins-kind-mismatch", "value", 422, "INS {ins} does not match its system: {reason}")
    INS_TRAITS_MISMATCH = Spec("ins-traits-mismatch", "value", 422, "INS {ins} contradicts the traits: {reason}")
    PATIENT_TRAITS_NEEDED = Spec("patient-traits-needed", "required", 422, "INS traits needed: {where}")
    CDA_VOLET_UNKNOWN = Spec("cda-volet-unknown", "not-supported", 422, "No schematron for model {template}")
    CDA_SCHEMATRON_FAILED = Spec("cda-schematron-failed", "invariant", 422, "CDA fails {schematron}: {reason}")
    REPLACED_NOT_FOUND = Spec("replaced-document-not-found", "not-found", 404, "{reference}: no such document here")
    REPLACED_UNKNOWN = Spec("replaced-document-unknown", "not-found", 422, "{identifier} was not sent through here")
    REPLACED_OTHER_PATIENT = Spec("replaced-document-other-patient", "business-rule", 422, "{unique_id}: other INS")
    REPLACED_SUPERSEDED = Spec("replaced-document-superseded", "conflict", 409, "{unique_id} is replaced ({by})")
    REPLACEMENT_SAME_ID = Spec("replacement-same-unique-id", "business-rule", 422, "{unique_id} is the old uniqueId")
    RELATION_NOT_SUPPORTED = Spec("relation-not-supported", "not-supported", 422, "relatesTo.code {code}: not replaces")
    # lab report (CR-BIO) from DiagnosticReport / Observations (facade/mapping/lab/)
    INVALID_UCUM_UNIT = Spec(
        "invalid-ucum-unit", "value", 422, "{element}: unit '{unit}' is not a valid UCUM code ({reason})"
    )
    UNKNOWN_LAB_CODE = Spec(
        "unknown-lab-code",
        "code-unknown",
        200,
        "{element}: {system}|{code} is not in the lab chapter table; rendered as '{display}' in chapter {chapter}",
        "warning",
    )
    LAB_METADATA_DERIVED = Spec(
        "lab-metadata-derived",
        "informational",
        200,
        "No DocumentReference: document metadata derived from {source} (typeCode {type_code}, classCode {class_code})",
        "information",
    )
    LAB_PDF_GENERATED = Spec(
        "lab-pdf-generated",
        "informational",
        200,
        "No PDF rendering of the report was supplied: the facade generated the mandatory PDF copy section",
        "information",
    )
    # visibility and consent at submission (facade/mapping/visibility.py; spec digest lifecycle §5)
    VISIBILITY_CODE_NOT_FOR_DMP = Spec(
        "visibility-code-not-for-dmp",
        "code-invalid",
        422,
        "{element}: {code} (TRE_A07) is not a DMP visibility code; the DMP knows MASQUE_PS, INVISIBLE_PATIENT and "
        "INVISIBLE_REPRESENTANTS_LEGAUX (JDV_J58)",
    )
    VISIBILITY_MASKED_AND_INVISIBLE = Spec(
        "visibility-masked-and-invisible",
        "business-rule",
        422,
        "{element}: MASQUE_PS together with INVISIBLE_PATIENT is refused (DMP compatibility rule EX_2.1-1050) unless "
        "the DMP parameter allowing it is set",
    )
    VISIBILITY_ADULT_LEGAL_REPRESENTATIVES = Spec(
        "visibility-adult-legal-representatives",
        "business-rule",
        422,
        "{element}: INVISIBLE_REPRESENTANTS_LEGAUX applies to a minor only; the patient is {age} at the document "
        "date {date}",
    )
    VISIBILITY_CHOICE_MISSING = Spec(
        "visibility-choice-missing",
        "required",
        422,
        "{element}: the visibility decision must be explicit: at least the HL7 confidentiality code (N, R or V){why}",
    )
    PATIENT_OPPOSITION = Spec(
        "patient-opposition",
        "forbidden",
        403,
        "The request carries the patient's opposition to feeding the DMP ({consent}, provision.type deny): "
        "nothing is sent",
    )
    XML_LIMIT = Spec("xml-limit", "too-costly", 422, "The XML supplied exceeds a limit: {reason}")

    # --- our own build failures (500) ---
    TEMPLATE_RENDER = Spec("template-render", "exception", 500, "Template {template} failed: {reason}", "fatal")
    CDA_NOT_SCHEMA_VALID = Spec(
        "cda-not-schema-valid", "exception", 500, "Generated CDA fails the XSD: {reason}", "fatal"
    )
    CONFIGURATION = Spec("configuration", "exception", 500, "Configuration problem: {reason}", "fatal")

    # --- validation of what we produce (reported in $preview outcome, not raised) ---
    OUTPUT_XSD = Spec("output-xsd", "invalid", 422, "{artefact} fails the XSD at line {line}: {reason}")
    OUTPUT_SCHEMATRON = Spec(
        "output-schematron", "invariant", 422, "{artefact} fails schematron {schematron}: {reason}"
    )
    OUTPUT_SCHEMATRON_WARNING = Spec(
        "output-schematron-warning", "invariant", 200, "{artefact}: schematron {schematron} warns: {reason}", "warning"
    )
    VALIDATION_KIT_MISSING = Spec(
        "validation-kit-missing", "not-supported", 422, "Full validation needs the conformance kit: {reason}", "warning"
    )

    # --- delivery to the DMP (wire: transport, SOAP, RegistryResponse; see facade/xds/error_mapping.py) ---
    SOAP_BUILD = Spec("soap-build", "exception", 500, "Cannot build the SOAP message: {reason}", "fatal")
    TLS_REJECTED = Spec(
        "tls-rejected",
        "security",
        502,
        "The DMP endpoint {url} refused the TLS connection or our client certificate: {reason}",
    )
    TLS_SERVER_UNTRUSTED = Spec(
        "tls-server-untrusted", "security", 502, "The certificate of the DMP endpoint {url} is not trusted: {reason}"
    )
    TRANSPORT_TIMEOUT = Spec("transport-timeout", "transient", 504, "No answer from {url} in time ({phase}): {reason}")
    TRANSPORT_CONNECTION = Spec("transport-connection", "transient", 503, "Cannot reach {url}: {reason}")
    TRANSPORT_PROTOCOL = Spec("transport-protocol", "transient", 502, "The connection to {url} broke: {reason}")
    TRANSPORT_CONFIGURATION = Spec(
        "transport-configuration", "exception", 500, "Cannot send to {url}: {reason}", "fatal"
    )
    DMP_HTTP_STATUS = Spec(
        "dmp-http-status", "transient", 503, "{url} answered HTTP {status} ({content_type}) instead of SOAP"
    )
    DMP_UNEXPECTED_RESPONSE = Spec(
        "dmp-unexpected-response", "exception", 502, "{url} answered HTTP {status} ({content_type}): {reason}"
    )
    SOAP_RESPONSE_INVALID = Spec("soap-response-invalid", "exception", 502, "The DMP answer cannot be read: {reason}")
    SOAP_FAULT = Spec("soap-fault", "exception", 502, "The DMP returned SOAP Fault {code}: {reason}")
    SOAP_FAULT_RECEIVER = Spec(
        "soap-fault-receiver", "transient", 503, "The DMP failed to process the message ({code}): {reason}"
    )
    VIHF_REJECTED = Spec(
        "vihf-rejected", "security", 502, "The DMP refused the VIHF or its signature ({code}): {reason}"
    )
    DMP_INVALID_CERTIFICATE = Spec(
        "dmp-invalid-certificate",
        "security",
        502,
        "The DMP refused the certificate that signed the VIHF ({code}): {reason}",
    )
    XDS_TRANSIENT = Spec("xds-transient", "transient", 503, "{context}")
    XDS_METADATA_REJECTED = Spec("xds-metadata-rejected", "invalid", 422, "{context}")
    XDS_MISSING_CONTENT = Spec(
        "xds-missing-content",
        "required",
        422,
        "{context}",
    )
    XDS_UNKNOWN_PATIENT = Spec("xds-unknown-patient", "not-found", 422, "{context}")
    XDS_UNRESOLVED_REFERENCE = Spec("xds-unresolved-reference", "not-found", 422, "{context}")
    XDS_BUSINESS_RULE = Spec("xds-business-rule", "business-rule", 422, "{context}")
    XDS_DUPLICATE_UNIQUE_ID = Spec("xds-duplicate-unique-id", "duplicate", 409, "{context}")
    XDS_INTEGRITY = Spec(
        "xds-integrity",
        "exception",
        500,
        "{context}",
        "fatal",
    )
    XDS_REGISTRY_ERROR = Spec("xds-registry-error", "exception", 502, "{context}")
    XDS_WARNING = Spec("xds-warning", "informational", 200, "{context}", "warning")

    # --- outbox: persistence, idempotency, delivery state (facade/outbox/) ---
    OUTBOX_UNAVAILABLE = Spec(
        "outbox-unavailable", "transient", 503, "The submission store is unavailable: {reason}", "fatal"
    )
    IDEMPOTENCY_KEY_REUSED = Spec(
        "idempotency-key-reused",
        "conflict",
        422,
        "This Idempotency-Key was already used for a different request (submission {submission_id}, {state})",
    )
    DOCUMENT_ALREADY_SUBMITTED = Spec(
        "document-already-submitted",
        "duplicate",
        409,
        "Document {unique_id} is already carried by submission {submission_id} ({state})",
    )
    SUBMISSION_NOT_FOUND = Spec("submission-not-found", "not-found", 404, "No submission {submission_id}")
    OUTBOX_STALE_LEASE = Spec(
        "outbox-stale-lease",
        "conflict",
        409,
        "Submission {submission_id} is {state}, leased by {lease_owner}: the result of {owner} is dropped",
    )
    SUBMISSION_STATE_CONFLICT = Spec(
        "submission-state-conflict", "conflict", 409, "Submission {submission_id} is {state}; {action} needs {expected}"
    )

    # --- signing: credentials (start-up checks), VIHF claims, signatures (facade/credentials.py, soap/saml.py,
    # soap/xades.py). Credential problems are ours (500, fatal); claims taken from the request are 422. ---
    CREDENTIAL_UNREADABLE = Spec(
        "credential-unreadable", "security", 500, "{source}: cannot load the credential: {reason}", "fatal"
    )
    CERTIFICATE_KEY_MISMATCH = Spec(
        "certificate-key-mismatch", "security", 500, "{source}: the private key does not match the certificate", "fatal"
    )
    CERTIFICATE_EXPIRED = Spec(
        "certificate-expired", "security", 500, "{source}: certificate {subject} expired on {not_after}", "fatal"
    )
    CERTIFICATE_NOT_YET_VALID = Spec(
        "certificate-not-yet-valid",
        "security",
        500,
        "{source}: certificate {subject} is valid only from {not_before}",
        "fatal",
    )
    CERTIFICATE_USAGE = Spec(
        "certificate-usage",
        "security",
        500,
        "{source}: certificate {subject} cannot be used {purpose}: {reason}",
        "fatal",
    )
    SIGNING_FAILED = Spec("signing-failed", "exception", 500, "Signing the {artefact} failed: {reason}", "fatal")
    VIHF_STRUCTURE_ID = Spec(
        "vihf-structure-id",
        "exception",
        500,
        "VIHF Identifiant_Structure {value!r} is not a Struct_IdNat: {reason}",
        "fatal",
    )
    VIHF_SECTOR = Spec(
        "vihf-sector", "exception", 500, "VIHF Secteur_Activite {value!r} is not SAxx^1.2.250.1.71.4.2.4", "fatal"
    )
    VIHF_SETTING = Spec("vihf-setting", "exception", 500, "VIHF {attribute} {value!r}: {reason}", "fatal")
    VIHF_PATIENT_ID = Spec(
        "vihf-patient-id", "value", 422, "VIHF resource-id {value!r} is not an INS as HL7 CX: {reason}"
    )
    VIHF_ROLE = Spec("vihf-role", "business-rule", 422, "VIHF role {value!r}: {reason}")
    VIHF_SPECIALITY_MISSING = Spec(
        "vihf-speciality-missing",
        "business-rule",
        422,
        "VIHF role {value!r} (profession {profession}) needs a second role value with the speciality "
        "(TRE_R01 SMxx, codeSystem 1.2.250.1.71.4.2.5)",
    )
    SIGNATURE_INVALID = Spec("signature-invalid", "security", 400, "{artefact}: the signature is invalid: {reason}")
    SIGNER_NOT_SIGNING_CERTIFICATE = Spec(
        "signer-not-signing-certificate",
        "security",
        400,
        "{artefact}: not a valid signature certificate ({subject}): {reason}",
    )
    SIGNER_UNTRUSTED = Spec(
        "signer-untrusted", "security", 400, "{artefact}: the signing certificate {subject} is not trusted: {reason}"
    )
    MANIFEST_DIGEST_MISMATCH = Spec(
        "manifest-digest-mismatch", "security", 400, "XAdES manifest reference {uri}: {reason}"
    )

    # --- HTTP surface ---
    # front door (facade/auth/): 401 carries WWW-Authenticate; reasons never echo the credential itself
    AUTH_REQUIRED = Spec("auth-required", "login", 401, "Authentication is required: {reason}")
    AUTH_INVALID_TOKEN = Spec("auth-invalid-token", "login", 401, "The bearer token is refused: {reason}")
    AUTH_CERTIFICATE_NOT_ALLOWED = Spec(
        "auth-certificate-not-allowed", "forbidden", 403, "Client certificate {subject} is not allowed here"
    )
    AUTH_INSUFFICIENT_SCOPE = Spec(
        "auth-insufficient-scope", "forbidden", 403, "The token lacks the required scope(s): {missing}"
    )
    NOT_FOUND = Spec("not-found", "not-found", 404, "{text}")
    METHOD_NOT_ALLOWED = Spec("method-not-allowed", "not-supported", 405, "{text}")
    INTERNAL = Spec("internal-error", "exception", 500, "Internal error ({kind}); see the server log", "fatal")

    REQUEST_TIMEOUT = Spec("request-timeout", "timeout", 408, "The request body was not received within {seconds} s")
    FORBIDDEN = Spec("forbidden", "forbidden", 403, "{text}")
    HOST_NOT_ALLOWED = Spec(
        "host-not-allowed",
        "security",
        400,
        "Host {host} is not a name of this facade ({allowed}); set FACADE_BASE_URL or FACADE_ALLOWED_HOSTS",
    )
    HTTP_FRAMING = Spec("http-framing", "structure", 400, "The HTTP request cannot be read: {reason}")
    CLIENT_ABORTED = Spec(
        "client-aborted", "incomplete", 499, "The client closed the connection after {received} bytes of the body"
    )
    SERVER_BUSY = Spec(
        "server-busy",
        "transient",
        503,
        "{in_flight} bytes of other requests are in progress; {wanted} more would pass the limit of {limit}: "
        "retry in {retry} s",
    )

    # --- submissions (feeding) ---
    SUBMISSION_QUEUED = Spec(
        "submission-queued",
        "transient",
        202,
        "Accepted; delivery to the DMP: {state}. Status: {location}",
        "information",
    )
    SUBMISSION_LAST_ERROR = Spec(
        "submission-last-error", "transient", 202, "Last attempt: {code}: {message}", "warning"
    )
    SENDING_NOT_CONFIGURED = Spec(
        "sending-not-configured", "not-supported", 501, "No DMP repository is configured (FACADE_DMP__REPOSITORY_URL)"
    )

    # --- DMP transactions beyond feeding (facade/dmp/: TD0.2, TD3.1, TD3.2, TD3.3) ---
    DMP_RIGHTS_FORBIDDEN = Spec(
        "dmp-rights-forbidden",
        "forbidden",
        403,
        "{transaction} is not open to a structure certificate in authentication mode {mode} ({reason}); {alternative}",
    )
    PATCH_INVALID = Spec("patch-invalid", "structure", 400, "The patch cannot be applied: {reason}")
    PATCH_ELEMENT_FORBIDDEN = Spec(
        "patch-element-forbidden",
        "not-supported",
        405,
        "{element} may not be patched: PDSm allows status, securityLabel and the pdsm-ext-is-archived extension only",
    )
    PATCH_LABEL_NOT_ALLOWED = Spec(
        "patch-security-label-not-allowed",
        "code-invalid",
        422,
        "securityLabel {system}|{code}: the DMP takes {allowed}",
    )
    PATCH_CONFIDENTIALITY_REQUIRED = Spec(
        "patch-confidentiality-required",
        "business-rule",
        422,
        "The patched securityLabel must keep exactly one HL7 confidentiality code (N, R or V) beside the TRE_A07 "
        "flags, as XDS does (found: {found})",
    )
    PATCH_SUPERSEDED_ALONE = Spec(
        "patch-superseded-alone",
        "business-rule",
        422,
        "status superseded is set by the DMP when a replacement is registered: post the replacing document (TD2.1, "
        "relatesTo replaces) with this PATCH in the same transaction; to delete, PATCH status to entered-in-error",
    )
    PATCH_SEVERAL_CHANGES = Spec(
        "patch-several-changes",
        "business-rule",
        422,
        "One PATCH asks for several DMP changes ({changes}): send one PATCH per change, so none is half applied",
    )
    DELETE_USE_PATCH = Spec(
        "delete-use-patch",
        "not-supported",
        405,
        "The DMP keeps no physical delete; PDSm-for-DMP deletes with PATCH [base]/DocumentReference?identifier="
        "urn:ietf:rfc:3986|urn:oid:<uniqueId> (or DocumentReference/<id>), JSON Patch "
        '[{{"op": "replace", "path": "/status", "value": "entered-in-error"}}]',
    )
    DMP_DOCUMENT_NOT_FOUND = Spec("dmp-document-not-found", "not-found", 404, "{context}")
    CONDITIONAL_PATCH_AMBIGUOUS = Spec(
        "conditional-patch-ambiguous", "multiple-matches", 412, "{criteria} matches {count} documents; name one"
    )
    PATCH_NOT_OWN_DOCUMENT = Spec(
        "patch-not-own-document",
        "forbidden",
        403,
        "{unique_id} was authored by structure {author}, not by this one ({structure}): only the author deletes it",
    )
    DMP_DOCUMENT_NOT_CURRENT = Spec(
        "dmp-document-not-current",
        "conflict",
        409,
        "{unique_id} is {status} in the DMP: only its current version changes",
    )
    XDS_UPDATE_CONFLICT = Spec("xds-update-conflict", "conflict", 409, "{context}")
    PATCH_VERSION_MISMATCH = Spec(
        "patch-version-mismatch", "conflict", 412, "If-Match {expected}: the DMP holds version {current} of {unique_id}"
    )
    PATCH_PATIENT_REQUIRED = Spec(
        "patch-patient-required",
        "required",
        422,
        "{document} was not sent through this facade: name its patient with patient.identifier=<INS system>|<INS>",
    )
    # DocumentReference search (TD3.1, ITI-67 -> ITI-18: facade/dmp/search*.py)
    SEARCH_REQUIRED_PARAMETER = Spec(
        "search-required-parameter",
        "required",
        400,
        "A DocumentReference search needs {parameter}: {reason}",
    )
    DMP_QUERY_REFUSED = Spec("dmp-query-refused", "invalid", 422, "The DMP refused the query: {context}")
    DMP_QUERY_FAILED = Spec("dmp-query-failed", "exception", 502, "The DMP could not answer: {context}")
    SEARCH_PARAMETER_UNKNOWN = Spec(
        "search-parameter-unknown",
        "not-supported",
        400,
        "Search parameter {name} is not supported here (Prefer: handling=strict); supported: {supported}",
    )
    SEARCH_INVALID_PARAMETER = Spec("search-invalid-parameter", "value", 400, "{parameter}={value}: {reason}")
    # the DMP's answers (message = the RegistryError codeContext, like the other XDS rows)
    DMP_ACCESS_DENIED = Spec("dmp-access-denied", "forbidden", 403, "{context}")
    DMP_TOO_MANY_RESULTS = Spec("dmp-too-many-results", "too-costly", 422, "{context}")
    DMP_STATUS_IDENTIFIER_REQUIRED = Spec(
        "dmp-status-identifier-required",
        "required",
        400,
        "GET Patient asks the DMP about one patient: identifier=<INS system>|<INS> is required ({reason})",
    )
    DMP_NONE = Spec("dmp-none", "not-found", 200, "The DMP has no record for this INS (TD0.2: no DMP)", "information")
    DMP_CLOSED = Spec(
        "dmp-closed",
        "business-rule",
        422,
        "The patient's DMP is closed{since}: nothing can be fed to it (TD0.2 before feeding, "
        "FACADE_DMP__CHECK_STATUS_BEFORE_FEEDING)",
    )
    DMP_ABSENT = Spec(
        "dmp-absent",
        "business-rule",
        422,
        "The patient has no DMP: nothing can be fed to it (TD0.2 before feeding, "
        "FACADE_DMP__CHECK_STATUS_BEFORE_FEEDING)",
    )
    BINARY_PATIENT_REQUIRED = Spec(
        "binary-patient-required",
        "required",
        400,
        "Reading a DMP document (TD3.2) needs its patient: patient.identifier=<INS system>|<INS> ({reason})",
    )

    # --- informational ---
    INFORMATION = Spec("information", "informational", 200, "{text}", "information")

    @property
    def spec(self) -> Spec:
        return self.value
