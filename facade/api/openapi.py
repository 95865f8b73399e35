"""What the OpenAPI document says of the FHIR endpoints: every answer is ``application/fhir+json``, errors are
OperationOutcomes with their statuses, and the bodies routes read themselves (raw FHIR JSON) are declared.

Routes read request bodies as bytes (``facade.api.body``) so that FHIR parsing errors become our OperationOutcome;
FastAPI therefore cannot infer these parts of the document from signatures.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from facade.outcomes import FHIR_JSON

_RESOURCE = {"type": "object", "required": ["resourceType"], "properties": {"resourceType": {"type": "string"}}}
OPERATION_OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"type": "string", "enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string"},
                    "details": {"type": "object"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


class FhirJsonResponse(JSONResponse):
    media_type = FHIR_JSON


def _outcome(description: str) -> dict[str, Any]:
    return {"description": description, "content": {FHIR_JSON: {"schema": OPERATION_OUTCOME_SCHEMA}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _outcome("Not FHIR JSON, not the expected resource, a structural FHIR error, or a refused Host"),
    401: _outcome("No or invalid client credentials"),
    403: _outcome("The client may not do this"),
    404: _outcome("No such resource (or not visible to this client)"),
    422: _outcome("Valid FHIR that breaks a profile, terminology, INS or DMP rule (issue.expression: FHIRPath)"),
    500: _outcome("The facade failed (never the caller's fault)"),
}
SUBMISSION_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    408: _outcome("The request body did not arrive in time"),
    409: _outcome("A document of this request was already submitted with other content"),
    413: _outcome("The body or a document is over the size limit"),
    415: _outcome("Content-Type is not FHIR JSON"),
    501: _outcome("No DMP repository is configured (preview only)"),
    502: _outcome("The DMP refused the submission, or its TLS/SOAP answer was unusable"),
    503: _outcome("The store is unavailable, or too many bytes are in flight"),
}


def fhir_body(*resource_types: str) -> dict[str, Any]:
    """``openapi_extra`` declaring a required FHIR JSON request body of one of ``resource_types``."""
    schema = {**_RESOURCE, "properties": {"resourceType": {"type": "string", "enum": list(resource_types)}}}
    content = {media: {"schema": schema} for media in (FHIR_JSON, "application/json")}
    return {"requestBody": {"required": True, "content": content}}


__all__ = ["ERRORS", "FHIR_JSON", "SUBMISSION_ERRORS", "FhirJsonResponse", "OPERATION_OUTCOME_SCHEMA", "fhir_body"]
