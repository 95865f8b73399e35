"""Every problem the facade can report, in one catalogue.

A `Problem` member pairs our stable code (shown in ``OperationOutcome.issue.details.coding.code`` under
``PROBLEM_SYSTEM``) with a FHIR IssueType, an HTTP status and a message template. Code raises
``FacadeError(Problem.X, expression=..., **details)`` or collects issues in a ``ValidationReport`` and
raises once; ``facade.api.outcomes`` is the only place that turns them into OperationOutcome.

Tree::

    FacadeError
    ├── RequestError            caller's fault, 4xx, never retried (BundleParseError, BundleValidationError)
    ├── DocumentBuildError      our fault, 500 (template, CDA schema)
    ├── SecurityError           key / certificate / signing
    └── DeliveryError           transport, TLS, SOAP fault, RegistryResponse failure (retryable or not)

Add a member here before raising it anywhere; keep codes stable (clients match on them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

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
    MISSING_AUTHOR_IDENTIFIER = Spec(
        "missing-author-identifier", "required", 422, "Author {author} has no national identifier ({accepted})"
    )
    UNKNOWN_CODE = Spec(
        "unknown-code", "code-invalid", 422, "{element}: {system}|{code} is not in {value_set}; accepted: {accepted}"
    )
    CONTENT_TYPE_NOT_ALLOWED = Spec(
        "content-type-not-allowed", "not-supported", 422, "Content type {content_type} is not allowed; accepted: {accepted}"
    )
    CONTENT_TOO_LARGE = Spec("content-too-large", "too-costly", 413, "{element} is {size} bytes; the limit is {limit}")
    CDA_HEADER_MISMATCH = Spec(
        "cda-header-mismatch", "business-rule", 422, "{element} is {fhir_value} but the CDA header says {cda_value}"
    )
    CDA_INPUT_INVALID = Spec("cda-input-invalid", "invalid", 422, "The CDA document supplied is not valid: {reason}")
    XML_FORBIDDEN_CONSTRUCT = Spec("xml-forbidden", "security", 400, "XML with a DTD or entities is refused: {reason}")

    # --- our own build failures (500) ---
    TEMPLATE_RENDER = Spec("template-render", "exception", 500, "Template {template} failed: {reason}", "fatal")
    CDA_NOT_SCHEMA_VALID = Spec("cda-not-schema-valid", "exception", 500, "Generated CDA fails the XSD: {reason}", "fatal")
    CONFIGURATION = Spec("configuration", "exception", 500, "Configuration problem: {reason}", "fatal")

    # --- validation of what we produce (reported in $preview outcome, not raised) ---
    OUTPUT_XSD = Spec("output-xsd", "invalid", 422, "{artefact} fails the XSD at line {line}: {reason}")
    OUTPUT_SCHEMATRON = Spec("output-schematron", "invariant", 422, "{artefact} fails schematron {schematron}: {reason}")
    OUTPUT_SCHEMATRON_WARNING = Spec(
        "output-schematron-warning", "invariant", 200, "{artefact}: schematron {schematron} warns: {reason}", "warning"
    )
    VALIDATION_KIT_MISSING = Spec(
        "validation-kit-missing", "not-supported", 422, "Full validation needs the conformance kit: {reason}", "warning"
    )

    # --- informational ---
    INFORMATION = Spec("information", "informational", 200, "{text}", "information")

    @property
    def spec(self) -> Spec:
        return self.value


@dataclass(frozen=True)
class Issue:
    """One problem, located by a FHIRPath expression into the request (or None)."""

    problem: Problem
    expression: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None  # overrides Problem.spec.severity (e.g. downgrade to warning)
    codings: tuple[tuple[str, str], ...] = ()  # extra details.coding (system, code), e.g. XDS errorCode
    diagnostics: str | None = None

    @property
    def message(self) -> str:
        try:
            return self.problem.spec.message.format(**self.details)
        except (KeyError, IndexError):  # a missing detail must never turn a report into a 500
            return f"{self.problem.spec.message} {self.details}"

    @property
    def effective_severity(self) -> str:
        return self.severity or self.problem.spec.severity

    @property
    def is_error(self) -> bool:
        return self.effective_severity in ("error", "fatal")


class FacadeError(Exception):
    """Base of every deliberate error. Carries one or more Issues."""

    def __init__(
        self,
        problem: Problem,
        /,
        *,
        expression: str | None = None,
        issues: Iterable[Issue] | None = None,
        **details: Any,
    ) -> None:
        self.problem = problem
        self.issues: list[Issue] = list(issues) if issues else [Issue(problem, expression, details)]
        super().__init__(self.issues[0].message)

    @property
    def http_status(self) -> int:
        """The most severe status among the issues (5xx beats 413 beats 422 beats 400)."""
        statuses = [i.problem.spec.http_status for i in self.issues if i.is_error] or [self.problem.spec.http_status]
        return max(statuses, key=_status_rank)


def _status_rank(status: int) -> tuple[int, int]:
    # 5xx first, then 413 (nothing else can be checked), then 422, then 400
    order = {413: 3, 422: 2, 400: 1}
    return (1 if status >= 500 else 0, order.get(status, 0))


class RequestError(FacadeError):
    """The caller's input is wrong (4xx). Never retried."""


class BundleParseError(RequestError):
    """Not JSON, not a Bundle, structurally invalid FHIR (400)."""


class BundleValidationError(RequestError):
    """One or more content problems (422), collected by a ValidationReport."""


class DocumentBuildError(FacadeError):
    """We failed to build a valid artefact (500)."""


class SecurityError(FacadeError):
    """Key, certificate or signature problem."""


class DeliveryError(FacadeError):
    """Sending failed. Whether it is retried is decided by the retry policy, not at the raise site."""


class ValidationReport:
    """Collects issues, then raises once: API users see every problem in one round trip."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, problem: Problem, /, *, expression: str | None = None, **details: Any) -> None:
        self.issues.append(Issue(problem, expression, details))

    def warn(self, problem: Problem, /, *, expression: str | None = None, **details: Any) -> None:
        self.issues.append(Issue(problem, expression, details, severity="warning"))

    def extend(self, issues: Iterable[Issue]) -> None:
        self.issues.extend(issues)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if not i.is_error]

    def raise_if_errors(self, error_class: type[FacadeError] = BundleValidationError) -> None:
        errors = self.errors
        if errors:
            raise error_class(errors[0].problem, issues=errors)
