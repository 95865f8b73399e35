"""The redaction filter on crafted records: INS/NIR shapes, PEM, passwords, SAML, tokens; RPPS/FINESS kept."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from facade.logs import JsonFormatter, RedactionFilter, redact
from facade.logs.redaction import INS_MASK, JWT_MASK, PEM_MASK, SAML_MASK, SECRET_MASK

INS = "279035121518989"  # ANS test patient (body + key 89)

PEM = """-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7
VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZH
-----END PRIVATE KEY-----"""

SAML = (
    '<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="_1">'
    "<saml2:Subject><saml2:NameID>899700218896</saml2:NameID></saml2:Subject>"
    '<saml2:Attribute Name="urn:oasis:names:tc:xacml:2.0:resource:resource-id">'
    f"<saml2:AttributeValue>{INS}^^^&amp;1.2.250.1.213.1.4.10&amp;ISO</saml2:AttributeValue>"
    "</saml2:Attribute></saml2:Assertion>"
)


@pytest.mark.parametrize(
    ("text", "secret", "mask"),
    [
        (f"patient {INS} refused", INS, INS_MASK),
        ("nir=2790351215189", "2790351215189", INS_MASK),  # body without key
        ("ins 2 79 03 51 215 189 89", "215 189", INS_MASK),  # spaced writing
        ("ins 1.84.12.76.451.089.46", "451.089", INS_MASK),  # dotted writing
        ("corse 185032A123456 ok", "2A123456", INS_MASK),  # 2A department
        ("corse 185032B01234567", "2B01234567", INS_MASK),
        (f"id={INS}^^^&1.2.250.1.213.1.4.8&ISO", INS, INS_MASK),  # HL7 CX
        (f"key:\n{PEM}\nend", "MIIEvQIBADAN", PEM_MASK),
        ("-----BEGIN CERTIFICATE-----\nMIIB truncated", "MIIB truncated", PEM_MASK),
        ("p12_password=s3cr3t-Value!", "s3cr3t-Value!", SECRET_MASK),
        ("connect password: 'hunter two' now", "hunter two", SECRET_MASK),
        ('{"password": "hunter2", "user": "x"}', "hunter2", SECRET_MASK),
        ("FACADE_DMP__AUTH__KEY_PASSWORD=abc123", "abc123", SECRET_MASK),
        ("client_secret=zzTOPzz&x=1", "zzTOPzz", SECRET_MASK),
        (f"vihf {SAML} sent", "899700218896", SAML_MASK),
        ("<Assertion ID='x'>unterminated 123", "unterminated", SAML_MASK),
        ("hdr PHNhbWw6QXNzZXJ0aW9uIHhtbG5zOnNhbWw9", "PHNhbWw6QXNzZXJ0aW9u", SAML_MASK),
        ("Authorization: Bearer abcdefghijklmnop.qrs", "abcdefghijklmnop", SECRET_MASK),
        ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "eyJzdWIiOiJ4In0", JWT_MASK),
    ],
)
def test_masks(text: str, secret: str, mask: str) -> None:
    out = redact(text)
    assert secret not in out, out
    assert mask in out


@pytest.mark.parametrize(
    "kept",
    [
        "author RPPS 10001234567 signed",  # RPPS (11 digits): a professional, kept for the audit trail
        "IdNat_PS 810001234567",  # 8 + RPPS
        "FINESS 120456789 / Struct_IdNat 3120456789",
        "oid 1.2.250.1.213.1.4.10 root 1.2.250.1.999.1.1.1",
        "request 3f2c8a1e-1234-4c56-9876-543210987654 took 12.5ms",
        "date 2026-03-02T17:50:00+01:00",
        "basic validation failed on 3 elements",
        "status=422 tokens ok",
    ],
)
def test_keeps_useful_values(kept: str) -> None:
    assert redact(kept) == kept


nir_bodies = st.builds(
    lambda sex, yy, mm, dept, rest: f"{sex}{yy:02d}{mm:02d}{dept}{rest:06d}",
    st.sampled_from("12378"),
    st.integers(0, 99),
    st.integers(1, 99),
    st.one_of(st.integers(1, 99).map(lambda d: f"{d:02d}"), st.sampled_from(["2A", "2B"])),
    st.integers(0, 999_999),
)


def _key(body: str) -> str:
    n = int(body.replace("2A", "19").replace("2B", "18"))
    return f"{97 - n % 97:02d}"


@given(body=nir_bodies, with_key=st.booleans(), before=st.text(max_size=20), after=st.text(max_size=20))
@example(body="2790351215189", with_key=True, before="INS ", after="")
def test_any_nir_in_any_text_is_masked(body: str, with_key: bool, before: str, after: str) -> None:
    nir = body + (_key(body) if with_key else "")
    # a digit glued on either side would make a longer number: keep the property about the NIR itself
    before = before.rstrip("0123456789") + " "
    after = " " + after
    assert nir not in redact(before + nir + after)


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("facade.test", logging.WARNING, __file__, 1, msg, args or None, None)
    record.__dict__.update(extra)
    return record


def test_filter_masks_arguments_extras_and_freezes_the_message() -> None:
    record = _record("sending for %s with key %s", INS, PEM, patient_ins=INS, nested={"pw": ["password=x1"]})
    assert RedactionFilter().filter(record) is True
    assert record.args is None
    assert INS not in record.getMessage() and "MIIEvQ" not in record.getMessage()
    assert record.patient_ins == INS_MASK
    assert record.nested == {"pw": ["password=[redacted]"]}


def test_filter_masks_tracebacks() -> None:
    try:
        raise ValueError(f"bad INS {INS}")
    except ValueError:
        record = logging.LogRecord("facade.test", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    RedactionFilter().filter(record)
    assert record.exc_text is not None and "ValueError" in record.exc_text
    assert INS not in record.exc_text


def test_broken_format_arguments_do_not_break_logging() -> None:
    record = _record("two %s %s", "only-one")
    assert RedactionFilter().filter(record)
    assert "unformattable" in record.getMessage()


def test_json_formatter_is_safe_on_its_own_and_emits_one_json_object_per_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())  # no RedactionFilter on purpose
    logger = logging.getLogger("facade.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("multi\nline %s", INS, extra={"cert": PEM, "count": 3})
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["msg"] == f"multi\nline {INS_MASK}"
    assert data["cert"] == PEM_MASK
    assert data["count"] == 3
    assert data["level"] == "WARNING" and data["logger"] == "facade.test.json"
    assert data["ts"].endswith("Z")
