from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from facade.errors import DeliveryError, Problem
from facade.soap import registry_response as rr
from facade.soap.registry_response import RegistryError, RegistryResponse, ResponseStatus, Severity

RS = rr.RS_NS
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30)
errors = st.builds(
    RegistryError,
    error_code=st.sampled_from(["XDSRegistryBusy", "XDSUnknownPatientId", "Whatever"]),
    code_context=text,
    location=st.none() | text,
    severity=st.sampled_from(Severity),
    text=text.map(str.strip),
)


@given(
    status=st.sampled_from(ResponseStatus),
    errs=st.lists(errors, max_size=4).map(tuple),
    request_id=st.none() | st.just("r1"),
)
def test_parse_inverts_build(status: ResponseStatus, errs: tuple[RegistryError, ...], request_id: str | None) -> None:
    response = RegistryResponse(status, errs, request_id)
    assert rr.parse(etree.fromstring(rr.to_bytes(response))) == response


def test_build_writes_the_canonical_failure_shape() -> None:
    response = RegistryResponse.failure(
        RegistryError("XDSRegistryMetadataError", "bad classCode", "DocumentEntry01"),
        RegistryError("XDSExtraMetadataNotSaved", "ignored slot", severity=Severity.WARNING),
    )
    el = rr.build(response)
    assert el.get("status") == "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
    error_list = el.find(f"{{{RS}}}RegistryErrorList")
    assert error_list is not None
    assert error_list.get("highestSeverity") == Severity.ERROR.value
    first = error_list[0]
    assert (first.get("errorCode"), first.get("codeContext"), first.get("location"), first.get("severity")) == (
        "XDSRegistryMetadataError",
        "bad classCode",
        "DocumentEntry01",
        "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error",
    )


def test_warnings_only_list_has_warning_as_highest_severity() -> None:
    el = rr.build(
        RegistryResponse.success((RegistryError("XDSExtraMetadataNotSaved", "x", severity=Severity.WARNING),))
    )
    error_list = el.find(f"{{{RS}}}RegistryErrorList")
    assert error_list is not None and error_list.get("highestSeverity") == Severity.WARNING.value


def test_parse_is_tolerant_of_shapes_seen_in_the_wild() -> None:
    xml = f"""<rs:RegistryResponse xmlns:rs="{RS}"
        status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:PartialSuccess">
      <rs:RegistryErrorList>
        <rs:RegistryError errorCode="XDSRegistryError" severity="Warning">message as text</rs:RegistryError>
        <rs:RegistryError errorCode="XDSRegistryBusy" codeContext="c"/>
        <rs:RegistryError errorCode="X" codeContext="c" severity="urn:unknown:severity"/>
      </rs:RegistryErrorList></rs:RegistryResponse>"""
    response = rr.parse(etree.fromstring(xml.encode()))
    assert response.status is ResponseStatus.PARTIAL_SUCCESS
    assert response.errors[0].severity is Severity.WARNING
    assert response.errors[0].message == "message as text"
    assert response.errors[1].severity is Severity.ERROR  # ebRS default
    assert response.errors[2].severity is Severity.ERROR  # unknown: the safe reading
    assert response.warnings == (response.errors[0],)
    assert not response.is_success


@pytest.mark.parametrize("status", ["", "Success", "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Maybe"])
def test_unknown_status_is_an_unreadable_answer(status: str) -> None:
    el = etree.Element(f"{{{RS}}}RegistryResponse", status=status)
    with pytest.raises(DeliveryError) as info:
        rr.parse(el)
    assert info.value.problem is Problem.SOAP_RESPONSE_INVALID


def test_parse_refuses_another_element() -> None:
    with pytest.raises(DeliveryError):
        rr.parse(etree.Element("RegistryResponse", status=ResponseStatus.SUCCESS.value))
