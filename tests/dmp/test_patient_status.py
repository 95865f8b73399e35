"""TD0.2 shapes: the facade's PRPA_IN201307UV02 and the simulator's PRPA_IN201308UV02 pass the kit's HL7v3 XSDs and
follow the GIE sample; the official sample answer reads as the DMP meant it; HL7v3 errors map through the one table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from facade import xmldoc
from facade.dmp.patient_status import Sender, build_request, parse_answer
from facade.errors import Problem, RemoteRejectionError
from facade.xds.error_mapping import check_hl7v3_answer

H = "{urn:hl7-org:v3}"
INS = "248039263001064"
TEST_OID = "1.2.250.1.213.1.4.10"
SENDER = Sender("1.2.250.1.999.1.1.1", "DMP-FACADE")
NOW = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


def hl7v3_schema(kit: Path, message: str) -> etree.XMLSchema:
    path = kit / "schemas/dmp-wsdl/schema/HL7V3/NE2009/multicacheschemas" / f"{message}.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


def shape(el: etree._Element) -> list[str]:
    """Element paths (local names, document order, repeated siblings once): the sample's shape."""
    out: list[str] = []

    def walk(node: etree._Element, prefix: str) -> None:
        for child in node:
            if isinstance(child.tag, str):
                path = f"{prefix}/{etree.QName(child).localname}"
                if path not in out:
                    out.append(path)
                walk(child, path)

    walk(el, "")
    return out


def sample_body(kit: Path, name: str) -> etree._Element:
    envelope = xmldoc.parse((kit / "examples/dmp" / name).read_bytes())
    body = envelope.find("{http://www.w3.org/2003/05/soap-envelope}Body")
    assert body is not None
    return next(c for c in body if isinstance(c.tag, str))


def test_the_request_passes_the_hl7v3_xsd_and_has_the_sample_shape(kit_path: Path) -> None:
    request = build_request(INS, TEST_OID, sender=SENDER, now=NOW)
    schema = hl7v3_schema(kit_path, "PRPA_IN201307UV02")
    assert schema.validate(request), schema.error_log
    assert shape(request) == shape(sample_body(kit_path, "TD0.2_test_existence_request.xml"))
    value = request.find(f".//{H}parameterList/{H}patientIdentifier/{H}value")
    assert value is not None and (value.get("root"), value.get("extension")) == (TEST_OID, INS)
    reason = request.find(f"{H}controlActProcess/{H}reasonCode")
    assert reason is not None and reason.get("code") == "TEST_EXST"


def test_the_official_answer_reads_as_an_open_dmp_with_its_flags(kit_path: Path) -> None:
    answer = sample_body(kit_path, "TD0.2_test_existence_response.xml")
    check_hl7v3_answer(answer)
    status = parse_answer(answer, "207058575627097", TEST_OID)
    assert status.exists and status.active and status.closed_on is None
    assert status.authorization == "VALIDE"
    assert status.treating_physician is True
    assert status.attached_to_mes is False and status.web_account_open is True
    assert ("1.2.250.1.213.1.4.2", "1197854176879056415520") in status.identifiers
    assert status.names[0].family == "patb-quatre" and status.names[0].qualifier == "SP"
    assert status.gender == "M" and status.birth_time == "19070525"


def _answer(ack: str, query: str, text: str = "") -> etree._Element:
    detail = f"<acknowledgementDetail><text>{text}</text></acknowledgementDetail>" if text else ""
    return etree.fromstring(
        f'<PRPA_IN201308UV02 xmlns="urn:hl7-org:v3"><acknowledgement typeCode="{ack}">{detail}</acknowledgement>'
        f'<controlActProcess><queryAck><queryResponseCode code="{query}"/></queryAck></controlActProcess>'
        "</PRPA_IN201308UV02>"
    )


def test_no_data_found_is_no_dmp() -> None:
    check_hl7v3_answer(_answer("AA", "NF"))
    assert parse_answer(_answer("AA", "NF"), INS, TEST_OID).exists is False


@pytest.mark.parametrize(
    ("ack", "query", "problem", "status"),
    [("AE", "QE", Problem.DMP_QUERY_REFUSED, 422), ("AA", "QE", Problem.DMP_QUERY_REFUSED, 422),
     ("AE", "AE", Problem.DMP_QUERY_FAILED, 502), ("AR", "OK", Problem.DMP_QUERY_REFUSED, 422)],
)  # fmt: skip
def test_hl7v3_errors_map_through_the_table(ack: str, query: str, problem: Problem, status: int) -> None:
    with pytest.raises(RemoteRejectionError) as caught:
        check_hl7v3_answer(_answer(ack, query, "Patient inconnu"))
    assert caught.value.problem is problem and caught.value.http_status == status


def test_an_answer_that_is_not_hl7v3_is_refused() -> None:
    with pytest.raises(RemoteRejectionError) as caught:
        check_hl7v3_answer(etree.fromstring("<x/>"))
    assert caught.value.problem is Problem.SOAP_RESPONSE_INVALID
