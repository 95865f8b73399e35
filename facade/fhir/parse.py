"""Request body bytes -> ParsedRequest (structurally valid FHIR R4, parsed with ``fhir.resources.R4B``).

Two shapes are accepted (spec digest §7.2): an ITI-65 Bundle (PDSm comprehensive provide-document bundle) and an
ITI-105 DocumentReference (simplified publish, ``content.attachment.data`` inline). Everything else is a 400
``BundleParseError``. Validation here is structural only (types, unknown elements, required elements); the
profile rules live in ``facade.fhir.validate`` / ``facade.mapping``.

The R4B model is built only to validate the structure, then dropped: the mapping reads one representation, the
raw JSON dicts (through ``facade.fhir.references.ReferenceResolver``), which keep primitive extensions
(``_birthDate``, ``_given``) and exact strings (dates with their offset). JSON numbers with a fraction or an
exponent are ``decimal.Decimal``: a FHIR decimal keeps its precision (``4.890`` stays ``4.890`` down to the CDA
PQ/@value), which a float would lose. Exponents beyond the double range
are refused (a ``1e999999999`` written out in full would exhaust memory).
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from facade.errors import BundleParseError, Issue, Problem
from facade.fhir.request_body import RequestBody, declared_type, declared_type_of

JsonObject = dict[str, Any]

_BOM = b"\xef\xbb\xbf"
ROOT_TYPES = ("Bundle", "DocumentReference")


@dataclass(frozen=True)
class ParsedEntry:
    """One resource of the request: a Bundle entry, or the ITI-105 DocumentReference itself."""

    index: int  # position in Bundle.entry (0 for ITI-105)
    path: str  # FHIRPath of the resource: ``Bundle.entry[1].resource`` or ``DocumentReference``
    resource_type: str
    raw: JsonObject  # the resource JSON as received
    full_url: str | None = None
    request_method: str | None = None
    request_url: str | None = None

    @property
    def id(self) -> str | None:
        value = self.raw.get("id")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class ParsedRequest:
    """A structurally valid request: ``raw`` is the Bundle or DocumentReference JSON, ``entries`` its resources."""

    kind: Literal["iti65", "iti105"]
    raw: JsonObject
    entries: tuple[ParsedEntry, ...]

    @property
    def root(self) -> str:
        return "Bundle" if self.kind == "iti65" else "DocumentReference"


def parse_request(body: bytes | RequestBody, *, max_depth: int = 64) -> ParsedRequest:
    """Parse and structurally validate a request body. Raises BundleParseError (400) with every structural issue.
    A ``RequestBody``'s bytes are taken from it and dropped once decoded (``_load``)."""
    data, may_forbid = _load(body, max_depth)
    depth = json_depth(data)
    if depth > max_depth:
        raise BundleParseError(Problem.BODY_TOO_DEEP, expression=None, limit=max_depth)
    if not isinstance(data, dict):
        raise BundleParseError(
            Problem.NOT_A_BUNDLE, expected="Bundle or DocumentReference", got=f"(a JSON {type(data).__name__})"
        )
    resource_type = data.get("resourceType")
    if resource_type not in ROOT_TYPES:
        raise BundleParseError(
            Problem.NOT_A_BUNDLE,
            expression=resource_type if isinstance(resource_type, str) and resource_type.isalnum() else None,
            expected="Bundle (ITI-65) or DocumentReference (ITI-105)",
            got=resource_type if isinstance(resource_type, str) else "(none)",
        )
    issues = list(_unknown_resource_types(data, resource_type))
    if may_forbid:
        issues += _forbidden_characters(data, resource_type)
    if issues:
        raise BundleParseError(issues[0].problem, issues=issues)
    model_class: type[Bundle] | type[DocumentReference] = Bundle if resource_type == "Bundle" else DocumentReference
    stubbed = _stub_large_base64(data, resource_type)
    try:
        model_class.model_validate(data)  # structure only: the model is not kept (one representation, half the memory)
    except ValidationError as exc:
        issues = [_issue_from_pydantic(resource_type, err) for err in exc.errors()]
        raise BundleParseError(Problem.FHIR_STRUCTURE, issues=issues) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # fhir_core quirks must never become a 500
        raise BundleParseError(
            Problem.FHIR_STRUCTURE, expression=resource_type, reason=f"not a valid {resource_type}: {exc}"
        ) from exc
    finally:
        for holder, value in stubbed:
            holder["data"] = value
    if resource_type == "Bundle":
        return ParsedRequest("iti65", data, tuple(_bundle_entries(data)))
    return ParsedRequest("iti105", data, (ParsedEntry(0, "DocumentReference", "DocumentReference", data),))


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


# the range a float parser accepted before: beyond it a decimal is no measurement, and written out it is huge
MAX_DECIMAL_EXPONENT = 308


def _parse_decimal(text: str) -> Decimal:
    value = Decimal(text)  # the JSON scanner only passes well-formed number literals
    if abs(value.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise ValueError(f"the number {text[:40]} is out of range (exponent beyond ±{MAX_DECIMAL_EXPONENT})")
    return value


def _load(body: bytes | RequestBody, max_depth: int) -> tuple[Any, bool]:
    """The JSON value, and whether the body may hold a forbidden character (``_MAY_DECODE_TO_FORBIDDEN``). An
    owner's bytes are freed as soon as they are decoded: the text and the value being built are then all there is
    (the owner keeps the type the body declares, for the audit of a refusal)."""
    owner = body if isinstance(body, RequestBody) else None
    raw = owner.take() if owner is not None else body
    assert isinstance(raw, bytes)
    may_forbid = _MAY_DECODE_TO_FORBIDDEN.search(raw) is not None
    try:
        text = _decode(raw)
    except BundleParseError:
        if owner is not None:
            owner.declared_type = declared_type(raw)
        raise
    del raw
    try:
        data = _load_json(text, max_depth)
    except BundleParseError:
        if owner is not None:
            owner.declared_type = declared_type(text)
        raise
    if owner is not None:
        owner.declared_type = declared_type_of(data)
    return data, may_forbid


def _decode(raw: bytes) -> str:
    try:  # a BOM is skipped without copying the bytes after it
        return str(memoryview(raw)[len(_BOM) :] if raw.startswith(_BOM) else raw, "utf-8")
    except UnicodeDecodeError as exc:
        raise BundleParseError(Problem.BODY_NOT_JSON, reason=f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc


def _load_json(text: str, max_depth: int) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_parse_decimal)
    except RecursionError as exc:  # the C scanner gives up long before the stack does
        raise BundleParseError(Problem.BODY_TOO_DEEP, limit=max_depth) from exc
    except json.JSONDecodeError as exc:
        raise BundleParseError(
            Problem.BODY_NOT_JSON, reason=f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except ValueError as exc:
        raise BundleParseError(Problem.BODY_NOT_JSON, reason=str(exc)) from exc


# FHIR R4 strings are `[ \r\n\t\S]+`: C0 controls other than tab/CR/LF are not allowed, and XML 1.0 cannot carry
# them (nor U+FFFE/U+FFFF or lone surrogates): refuse them here, with their location, rather than fail in lxml later.
_FORBIDDEN_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


# Where a forbidden character can come from in a body json.loads accepted (it refuses raw C0 controls in strings, and
# UTF-8 decoding refuses raw surrogates): an escape of one (a superset: \b, \f, \u0000-\u001f, \ud800-\udfff,
# \ufffe/\uffff, an escaped backslash before "u" included) or U+FFFE/U+FFFF written raw. Without any, the walk
# over every string of the request is skipped.
_MAY_DECODE_TO_FORBIDDEN = re.compile(rb"\\(?:[bf]|u(?:00[01]|[dD][89a-fA-F]|[fF]{3}[eEfF]))|\xef\xbf[\xbe\xbf]")


def _forbidden_characters(value: Any, root: str, path: tuple[int | str, ...] = ()) -> Iterator[Issue]:
    if isinstance(value, str):
        found = _FORBIDDEN_CHARACTERS.search(value)
        if found:
            yield Issue(
                Problem.FHIR_STRUCTURE,
                loc_to_fhirpath(root, path),
                {"reason": f"contains U+{ord(found.group()):04X}, a character FHIR strings (and XML) cannot carry"},
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _forbidden_characters(item, root, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _forbidden_characters(item, root, (*path, index))


# A base64Binary value from this size is checked here rather than by the R4B model: pydantic decodes every one to check
# it (a 10 MiB PDF: its 13 MB of text encoded again, then decoded, +23 MB while the whole request dict is alive).
# The model sees a small valid stub instead; the value is put back before anything else reads the dict.
STUB_BASE64_AT = 64 * 1024
BASE64_STUB = "AAAA"
_CHECK_CHUNK = 2**20  # a multiple of 4: strict chunks are whole quads


def _base64_holders(data: JsonObject, root: str) -> Iterator[JsonObject]:
    """The objects whose ``data`` is an R4 base64Binary where a document travels: Binary, an attachment of a
    DocumentReference, a DiagnosticReport's presentedForm (malformed shapes are left to the model)."""
    for _, resource in _resources_in(data, root):
        kind = resource.get("resourceType")
        if kind == "Binary":
            yield resource
        elif kind in ("DocumentReference", "DiagnosticReport"):
            items = resource.get("content" if kind == "DocumentReference" else "presentedForm")
            for item in items if isinstance(items, list) else ():
                holder = item.get("attachment") if kind == "DocumentReference" and isinstance(item, dict) else item
                if isinstance(holder, dict):
                    yield holder


def passes_base64_check(value: str) -> bool:
    """True when the R4B model would accept ``value`` as base64Binary (pydantic: ``base64.b64decode``, not
    strict); False when it may not: the model then checks it itself, and words the error as it always did."""
    if not value.isascii():
        return False  # pydantic encodes it first: its own check decides
    if value.find("=", 0, len(value) - 2) == -1:  # padding only at the end: strict whole quads, chunk by chunk
        try:
            for start in range(0, len(value), _CHECK_CHUNK):
                binascii.a2b_base64(value[start : start + _CHECK_CHUNK], strict_mode=True)
            return True
        except binascii.Error:
            pass
    try:  # whitespace, stray characters: the same lenient decode as pydantic's, its result dropped at once
        binascii.a2b_base64(value)
    except (binascii.Error, ValueError):
        return False
    return True


def _stub_large_base64(data: JsonObject, root: str) -> list[tuple[JsonObject, str]]:
    """Replace each large base64Binary the model would accept by ``BASE64_STUB``; (holder, original) to restore."""
    stubbed: list[tuple[JsonObject, str]] = []
    for holder in _base64_holders(data, root):
        value = holder.get("data")
        if isinstance(value, str) and len(value) >= STUB_BASE64_AT and passes_base64_check(value):
            stubbed.append((holder, value))
            holder["data"] = BASE64_STUB
    return stubbed


def json_depth(value: Any) -> int:
    """Nesting depth of a JSON value (scalars 0, ``{}`` 1), computed without recursion, one level at a time (only
    containers are visited: the scalars, most of a request, are never pushed)."""
    depth = 0
    level: list[Any] = [value] if isinstance(value, dict | list) else []
    while level:
        depth += 1
        deeper: list[Any] = []
        for node in level:
            for child in node.values() if isinstance(node, dict) else node:
                if isinstance(child, dict | list):
                    deeper.append(child)
        level = deeper
    return depth


def _resources_in(data: JsonObject, path: str) -> Iterator[tuple[str, JsonObject]]:
    """Every resource position (entry resources and contained resources) with its FHIRPath."""
    yield path, data
    contained = data.get("contained")
    if isinstance(contained, list):
        for i, item in enumerate(contained):
            if isinstance(item, dict):
                yield from _resources_in(item, f"{path}.contained[{i}]")
    if data.get("resourceType") == "Bundle" and isinstance(data.get("entry"), list):
        for i, entry in enumerate(data["entry"]):
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                yield from _resources_in(entry["resource"], f"{path}.entry[{i}].resource")


def _is_resource_type(name: object) -> bool:
    if not isinstance(name, str):
        return False
    try:
        cls = get_fhir_model_class(name)
    except (ValueError, KeyError):
        return False
    return isinstance(cls, type) and issubclass(cls, Resource)


def _unknown_resource_types(data: JsonObject, root: str) -> Iterator[Issue]:
    # fhir_core raises KeyError (not a ValidationError) on an unknown resourceType: check them first
    for path, resource in _resources_in(data, root):
        if path == root:
            continue
        name = resource.get("resourceType")
        if not _is_resource_type(name):
            yield Issue(
                Problem.FHIR_STRUCTURE,
                f"{path}.resourceType",
                {"reason": f"{name!r} is not an R4 resource type" if name else "resourceType is missing"},
            )


def loc_to_fhirpath(root: str, loc: tuple[int | str, ...]) -> str:
    """pydantic error location -> FHIRPath: ('entry', 1, 'resource', 'birthDate')
    -> Bundle.entry[1].resource.birthDate"""
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        if not part.replace("_", "").isalnum():  # pydantic union/validator labels, not element names
            continue
        if part == "resource_type":
            part = "resourceType"
        elif part.endswith("__ext"):  # primitive extension: birthDate__ext is _birthDate in JSON
            part = "_" + part[: -len("__ext")]
        out += f".{part}"
    return out


def _issue_from_pydantic(root: str, err: Any) -> Issue:
    expression = loc_to_fhirpath(root, tuple(err.get("loc", ())))
    msg = str(err.get("msg", "invalid")).split("\n", 1)[0]
    if err.get("type") == "extra_forbidden":
        msg = "unknown element (not in the R4 definition of this type)"
    elif err.get("type") == "missing":
        msg = "required element is missing"
    return Issue(Problem.FHIR_STRUCTURE, expression, {"reason": f"{expression}: {msg}"})


def _bundle_entries(data: JsonObject) -> Iterator[ParsedEntry]:
    for i, entry in enumerate(data.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else {}
        request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
        yield ParsedEntry(
            index=i,
            path=f"Bundle.entry[{i}].resource",
            resource_type=str(resource.get("resourceType", "")),
            raw=resource,
            full_url=entry.get("fullUrl"),
            request_method=request.get("method"),
            request_url=request.get("url"),
        )


__all__ = ["JsonObject", "ParsedEntry", "ParsedRequest", "json_depth", "loc_to_fhirpath", "parse_request"]
