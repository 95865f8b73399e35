"""ebRS 3.0 ``rs:RegistryResponse``: the answer to ITI-41 (spec §2.3, §8), parsed and built.

It is the Body of the SOAP answer, so it lives with the SOAP parsing (``soap.envelope``); what it means for the
API and the retry policy is decided above, in ``xds.error_mapping`` (xds imports soap, never the reverse).

``parse`` reads what the DMP sends (tolerant of the shapes seen in the wild: bare ``Error``/``Warning``
severities, ebRS 4 ``PartialSuccess`` URN, the message written as element text instead of ``codeContext``);
``build`` writes the canonical form (the simulator answers with it)::

    <rs:RegistryResponse status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure">
      <rs:RegistryErrorList highestSeverity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error">
        <rs:RegistryError errorCode="XDSRegistryMetadataError" codeContext="..." location="..."
                          severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"/>
      </rs:RegistryErrorList>
    </rs:RegistryResponse>
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lxml import etree

from facade.errors import DeliveryError, Problem

RS_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
_RS = f"{{{RS_NS}}}"


class ResponseStatus(StrEnum):
    """RegistryResponse/@status (ebRS 3.0 + IHE ITI TF-3 4.2.4.2 PartialSuccess)."""

    SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
    PARTIAL_SUCCESS = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
    FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"


class Severity(StrEnum):
    ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
    WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"


_STATUS_ALIASES = {
    "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:PartialSuccess": ResponseStatus.PARTIAL_SUCCESS,
}
_SEVERITY_ALIASES = {"error": Severity.ERROR, "warning": Severity.WARNING}


@dataclass(frozen=True)
class RegistryError:
    """One ``rs:RegistryError``. ``text`` is the element's own text (some registries put the message there)."""

    error_code: str
    code_context: str = ""
    location: str | None = None
    severity: Severity = Severity.ERROR
    text: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def message(self) -> str:
        """codeContext, else the element text: what a human should read."""
        return self.code_context or self.text


@dataclass(frozen=True)
class RegistryResponse:
    status: ResponseStatus
    errors: tuple[RegistryError, ...] = ()
    request_id: str | None = None

    @property
    def is_success(self) -> bool:
        return self.status is ResponseStatus.SUCCESS

    @property
    def warnings(self) -> tuple[RegistryError, ...]:
        return tuple(e for e in self.errors if not e.is_error)

    @property
    def error_entries(self) -> tuple[RegistryError, ...]:
        return tuple(e for e in self.errors if e.is_error)

    @classmethod
    def success(cls, warnings: tuple[RegistryError, ...] = ()) -> RegistryResponse:
        return cls(ResponseStatus.SUCCESS, warnings)

    @classmethod
    def failure(cls, *errors: RegistryError) -> RegistryResponse:
        return cls(ResponseStatus.FAILURE, tuple(errors))


def is_registry_response(element: etree._Element) -> bool:
    return bool(element.tag == f"{_RS}RegistryResponse")


def parse(element: etree._Element) -> RegistryResponse:
    """``rs:RegistryResponse`` element -> RegistryResponse. Unknown status -> DeliveryError SOAP_RESPONSE_INVALID."""
    if not is_registry_response(element):
        raise DeliveryError(Problem.SOAP_RESPONSE_INVALID, reason=f"expected rs:RegistryResponse, got {element.tag}")
    return parse_status(element)


def parse_status(element: etree._Element) -> RegistryResponse:
    """Status and errors of any ebRS RegistryResponseType (``rs:RegistryResponse``, ``query:AdhocQueryResponse``)."""
    raw_status = (element.get("status") or "").strip()
    status = _STATUS_ALIASES.get(raw_status)
    if status is None:
        try:
            status = ResponseStatus(raw_status)
        except ValueError:
            raise DeliveryError(
                Problem.SOAP_RESPONSE_INVALID, reason=f"unknown RegistryResponse status {raw_status!r}"
            ) from None
    errors = tuple(_parse_error(el) for el in element.iterfind(f"{_RS}RegistryErrorList/{_RS}RegistryError"))
    return RegistryResponse(status=status, errors=errors, request_id=element.get("requestId"))


def _parse_error(el: etree._Element) -> RegistryError:
    raw = (el.get("severity") or Severity.ERROR.value).strip()
    severity = _SEVERITY_ALIASES.get(raw.lower())
    if severity is None:
        try:
            severity = Severity(raw)
        except ValueError:
            severity = Severity.ERROR  # unknown severity: the safe reading is "this failed"
    return RegistryError(
        error_code=(el.get("errorCode") or "").strip(),
        code_context=el.get("codeContext") or "",
        location=el.get("location"),
        severity=severity,
        text=(el.text or "").strip(),
    )


def build(response: RegistryResponse) -> etree._Element:
    """RegistryResponse -> ``rs:RegistryResponse`` element (canonical URNs; highestSeverity computed)."""
    root = etree.Element(f"{_RS}RegistryResponse", nsmap={"rs": RS_NS})
    root.set("status", response.status.value)
    if response.request_id:
        root.set("requestId", response.request_id)
    if response.errors:
        highest = Severity.ERROR if any(e.is_error for e in response.errors) else Severity.WARNING
        error_list = etree.SubElement(root, f"{_RS}RegistryErrorList", highestSeverity=highest.value)
        for error in response.errors:
            el = etree.SubElement(error_list, f"{_RS}RegistryError")
            el.set("errorCode", error.error_code)
            el.set("codeContext", error.code_context)
            if error.location is not None:
                el.set("location", error.location)
            el.set("severity", error.severity.value)
            if error.text:
                el.text = error.text
    return root


def to_bytes(response: RegistryResponse) -> bytes:
    return bytes(etree.tostring(build(response), encoding="UTF-8"))
