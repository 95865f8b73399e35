"""A large base64Binary (a document's bytes) is kept out of the R4B model's validation (facade.fhir.parse): the model
sees a small stub, the value is checked by the parser and decoded by the mapping's strict decoder. What a client sees
must not change: the same answer, issue for issue, as when the model checks the value itself, and the stub never
reaches the mapping or the output."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

import pytest

from facade.errors import FacadeError
from facade.fhir import parse
from facade.fhir.parse import BASE64_STUB, STUB_BASE64_AT, parse_request, passes_base64_check
from facade.mapping.content import strict_b64decode

from .conftest import CONFORMANCE, Run, load

LDL = CONFORMANCE / "ldl-ses" / "pdf-discharge-letter.json"
ITI105 = CONFORMANCE / "iti105" / "simplified-publish.json"
BINARY_DATA = "Bundle.entry[2].resource.data"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * (STUB_BASE64_AT // 128)  # base64 well over the stub threshold
GOOD = base64.b64encode(PDF).decode("ascii")
WRAPPED = "\r\n".join(GOOD[i : i + 76] for i in range(0, len(GOOD), 76))  # MIME-style lines

VALUES = {
    "good": GOOD,
    "wrapped in lines": WRAPPED,
    "invalid character": GOOD[:1000] + "!" + GOOD[1000:],
    "invalid character at the end": GOOD + "!",
    "missing padding": GOOD[:-1] if GOOD.endswith("=") else GOOD + "QQ",
    "padding in the middle": GOOD[:1000] + "==" + GOOD[1000:],
    "data after padding": GOOD + "QUJDRA==",
    "one character too many": GOOD + "Q",
    "not ASCII": GOOD[:1000] + "é" + GOOD[1000:],
    "url-safe alphabet": GOOD.replace("+", "-").replace("/", "_"),
}


def outcome(run: Run, request: dict[str, Any]) -> Any:
    """What the client would be told: the refusal's status and issues, or the document's bytes."""
    try:
        result = run(request)
    except FacadeError as exc:
        return exc.http_status, [(i.problem.spec.code, i.expression, i.details) for i in exc.issues]
    body = result.submission.documents[0].document.body
    return "accepted", getattr(body, "data", None)


def with_binary(value: str) -> dict[str, Any]:
    request = load(LDL)
    binary = request["entry"][2]["resource"]
    assert binary["resourceType"] == "Binary"
    binary["data"] = value
    attachment = request["entry"][1]["resource"]["content"][0]["attachment"]
    attachment.update(size=len(PDF), hash=base64.b64encode(hashlib.sha1(PDF).digest()).decode())  # noqa: S324
    return request


@pytest.mark.parametrize("name", list(VALUES))
def test_same_answer_as_when_the_model_checks_the_value(name: str, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    request = with_binary(VALUES[name])
    stubbed = outcome(run, copy.deepcopy(request))
    monkeypatch.setattr(parse, "STUB_BASE64_AT", 10**12)  # every value through the R4B model, as before
    assert outcome(run, request) == stubbed


def test_an_invalid_character_is_refused_at_the_binary(run: Run) -> None:
    with pytest.raises(FacadeError) as info:
        run(with_binary(VALUES["invalid character"]))
    assert info.value.http_status == 422
    issue = next(i for i in info.value.issues if i.expression == BINARY_DATA)
    assert issue.problem.spec.code == "invalid-value"
    assert issue.details["element"] == "base64Binary"


def test_bad_padding_is_refused_by_the_parser_in_the_model_s_words() -> None:
    with pytest.raises(FacadeError) as info:
        parse_request(json.dumps(with_binary(VALUES["missing padding"])).encode())
    assert info.value.http_status == 400
    [issue] = info.value.issues
    assert issue.expression == BINARY_DATA
    assert issue.details["reason"] == f"{BINARY_DATA}: Base64 decoding error: 'Incorrect padding'"


def test_the_stub_never_reaches_the_mapping(run: Run) -> None:
    parsed = parse_request(json.dumps(with_binary(GOOD)).encode())
    assert parsed.entries[2].raw["data"] == GOOD
    assert outcome(run, with_binary(GOOD)) == ("accepted", PDF)
    assert outcome(run, with_binary(WRAPPED)) == ("accepted", PDF)


def test_iti105_attachment_data_is_stubbed_and_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    request = load(ITI105)
    request["content"][0]["attachment"]["data"] = GOOD
    seen: list[str] = []
    validate = parse.DocumentReference.model_validate

    def spy(data: dict[str, Any]) -> Any:
        seen.append(data["content"][0]["attachment"]["data"])
        return validate(data)

    monkeypatch.setattr(parse.DocumentReference, "model_validate", spy)
    parsed = parse_request(json.dumps(request).encode())
    assert seen == [BASE64_STUB]
    assert parsed.raw["content"][0]["attachment"]["data"] == GOOD


def test_a_presented_form_is_stubbed() -> None:
    data = {"resourceType": "DiagnosticReport", "presentedForm": [{"data": GOOD}, {"data": "QUJD"}, "x"]}
    assert [h["data"] for h in parse._base64_holders(data, "DiagnosticReport")] == [GOOD, "QUJD"]


@pytest.mark.parametrize("name", list(VALUES))
def test_the_parser_check_is_pydantic_s(name: str) -> None:
    value = VALUES[name]
    try:
        base64.b64decode(value)  # what the R4B model runs (pydantic Base64Bytes)
        accepted = True
    except ValueError:
        accepted = False
    assert passes_base64_check(value) is (accepted and value.isascii())


@pytest.mark.parametrize("value", [*VALUES.values(), "", "QUJD", "QUJ", "QU=D", "====", "QUJDRA===", "Q"])
def test_the_strict_decoder_is_b64decode_validate(value: str) -> None:
    def decoded(decode: Any) -> Any:
        try:
            return decode(value)
        except ValueError as exc:  # binascii.Error included
            return type(exc), str(exc)

    assert decoded(strict_b64decode) == decoded(lambda v: base64.b64decode(v, validate=True))
