"""The request body handed to the parser (facade.fhir.request_body): the parser takes the bytes and the owner lets
them go, and the one fact read from the body afterwards (the type it declares, for the audit of a refusal) is the
one the bytes would have given."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import pytest

from facade.errors import BundleParseError
from facade.fhir.parse import parse_request
from facade.fhir.request_body import RequestBody, declared_type

ROOT = Path(__file__).resolve().parents[2]
LDL = (ROOT / "conformance" / "bundles" / "ldl-ses" / "pdf-discharge-letter.json").read_bytes()
TYPE = "11490-0"  # the LDL's DocumentReference.type


def test_the_parser_takes_the_bytes_and_nothing_keeps_them() -> None:
    data = bytes(bytearray(LDL))  # an object of its own (bytes cannot be weakly referenced: count the references)
    owner = RequestBody(data)
    held = sys.getrefcount(data)
    parsed = parse_request(owner)
    gc.collect()
    assert sys.getrefcount(data) == held - 1  # the owner's reference is gone, and the parser kept none
    assert owner.taken and owner.size == len(LDL)
    with pytest.raises(RuntimeError):
        owner.data  # noqa: B018
    assert parsed == parse_request(LDL)
    assert owner.document_type() == TYPE == declared_type(LDL)


def test_a_byte_order_mark_is_skipped() -> None:
    assert parse_request(RequestBody(b"\xef\xbb\xbf" + LDL)) == parse_request(LDL)


@pytest.mark.parametrize(
    "body",
    [
        LDL.replace(b'"status": "current"', b'"status": "current", "x": NaN', 1),  # JSON the parser refuses
        LDL.replace(b'"status": "current"', b'"status": 1', 1),  # a structure error
        LDL.replace(b"Compte", b"Compte\xe9", 1),  # not UTF-8
        b"{not json",
        b'{"resourceType": "DocumentReference", "type": {"coding": [{"code": "X"}]}}',
    ],
)
def test_the_declared_type_of_a_refused_body_is_the_bytes_one(body: bytes) -> None:
    owner = RequestBody(body)
    with pytest.raises(BundleParseError):
        parse_request(owner)
    assert owner.taken and owner.document_type() == declared_type(body)


def test_the_declared_type_before_parsing_is_read_from_the_bytes() -> None:
    doc = {"resourceType": "DocumentReference", "type": {"coding": [{"code": "Y" * 80}]}}
    assert RequestBody(json.dumps(doc).encode()).document_type() == "Y" * 64
    assert RequestBody(b"[]").document_type() == ""


def test_a_body_taken_without_a_declared_type_declares_none() -> None:
    owner = RequestBody(LDL)
    owner.take()  # a reader other than the parser: nothing recorded
    assert owner.document_type() == ""
