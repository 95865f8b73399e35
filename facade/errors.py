"""The error tree over the one catalogue (``facade.problems``: every Problem, its code, status and message).

A `Problem` member pairs our stable code (shown in ``OperationOutcome.issue.details.coding.code`` under
``PROBLEM_SYSTEM``) with a FHIR IssueType, an HTTP status and a message template. Code raises
``FacadeError(Problem.X, expression=..., **details)`` or collects issues in a ``ValidationReport`` and
raises once; ``facade.outcomes`` is the only place that turns them into OperationOutcome.

Tree (every FacadeError subclass of the code base; tests/test_error_tree.py keeps this list true)::

    FacadeError
    ├── RequestError            caller's fault, 4xx, never retried
    │   ├── BundleParseError        not JSON, not a Bundle, structurally invalid FHIR (400)
    │   ├── BundleValidationError   content problems collected by a ValidationReport (422)
    │   └── AuthenticationError     401 / 403 at the front door, with its WWW-Authenticate challenge (auth/actor.py)
    ├── DocumentBuildError      our fault, 500 (template, CDA schema)
    │   └── CdaSchemaError          a rendered CDA fails the ANS XSD (cda/validation.py)
    ├── SecurityError           key / certificate / signing
    ├── DeliveryError           transport, TLS, SOAP fault, RegistryResponse failure (retryable or not)
    │   ├── TransportError          no SOAP answer (transport/mtls.py): .retryable, .ambiguous (may have landed)
    │   │   └── TlsError            handshake / certificate refused: never retried
    │   └── RemoteRejectionError    SOAP Fault or non-Success RegistryResponse (xds/error_mapping.py): .retryable
    └── OutboxError             the submission store (outbox/record.py)
        ├── OutboxUnavailableError      the store cannot be read or written (503)
        ├── IdempotencyConflictError    also a RequestError: key reused for another request, document already carried
        ├── UnknownSubmissionError      also a RequestError: no such submission (404)
        ├── StaleLeaseError             a relay's result after its lease was taken over: dropped
        └── SubmissionStateError        the record's state does not allow the operation (409)

Add a member here before raising it anywhere; keep codes stable (clients match on them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from facade.problems import PROBLEM_SYSTEM, XDS_ERROR_SYSTEM, Problem, Spec

__all__ = [
    "PROBLEM_SYSTEM",
    "XDS_ERROR_SYSTEM",
    "BundleParseError",
    "BundleValidationError",
    "DeliveryError",
    "DocumentBuildError",
    "FacadeError",
    "Issue",
    "Problem",
    "RemoteRejectionError",
    "RequestError",
    "SecurityError",
    "Spec",
    "TlsError",
    "TransportError",
    "ValidationReport",
    "http_status_of",
]


@dataclass(frozen=True)
class Issue:
    """One problem, located by a FHIRPath expression into the request (or None)."""

    problem: Problem
    expression: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None  # overrides Problem.spec.severity (e.g. downgrade to warning)
    codings: tuple[tuple[str, str], ...] = ()  # extra details.coding (system, code), e.g. XDS errorCode
    diagnostics: str | None = None
    text: str | None = None  # the message as first rendered (an issue read back from the outbox): wins over details

    @property
    def message(self) -> str:
        if self.text is not None:
            return self.text
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
        return http_status_of(self.problem, self.issues)


def http_status_of(problem: Problem, issues: Iterable[Issue]) -> int:
    """The most severe status among the error issues (5xx beats 413 beats 422 beats 400), else the problem's."""
    statuses = [i.problem.spec.http_status for i in issues if i.is_error] or [problem.spec.http_status]
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


class TransportError(DeliveryError):
    """Network-level failure (facade/transport/mtls.py). ``retryable`` and ``ambiguous`` are the wire layer's facts
    for the retry policy: ``ambiguous`` means the request may have reached the DMP (e.g. read timeout after sending),
    so a later XDSDuplicateUniqueIdInRegistry for the same documents means the earlier attempt landed."""

    def __init__(self, problem: Problem, /, *, retryable: bool, ambiguous: bool = False, **details: Any) -> None:
        super().__init__(problem, **details)
        self.retryable = retryable
        self.ambiguous = ambiguous


class TlsError(TransportError):
    """TLS handshake or certificate rejected (either side). Never retried: alert operators."""

    def __init__(self, problem: Problem, /, **details: Any) -> None:
        super().__init__(problem, retryable=False, ambiguous=False, **details)


class RemoteRejectionError(DeliveryError):
    """The DMP answered, with a SOAP Fault or a RegistryResponse that is not Success (facade/xds/error_mapping.py).
    Carries one Issue per RegistryError / fault; ``retryable`` comes from the one XDS error table."""

    def __init__(self, problem: Problem, /, *, issues: Iterable[Issue], retryable: bool, response: Any = None) -> None:
        super().__init__(problem, issues=issues)
        self.retryable = retryable
        self.ambiguous = False  # the DMP answered: the outcome is known
        self.response = response


class ValidationReport:
    """Collects issues, then raises once: API users see every problem in one round trip."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, problem: Problem, /, *, expression: str | None = None, **details: Any) -> None:
        self.issues.append(Issue(problem, expression, details))

    def warn(self, problem: Problem, /, *, expression: str | None = None, **details: Any) -> None:
        self.issues.append(Issue(problem, expression, details, severity="warning"))

    def inform(self, problem: Problem, /, *, expression: str | None = None, **details: Any) -> None:
        """Something the caller should know but need not fix (a generated id, a derived value): severity
        information whatever the problem's own severity, so an ``informational`` code never reads as a warning."""
        self.issues.append(Issue(problem, expression, details, severity="information"))

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
