"""INS (NIR/NIA) key, PS/structure national ids, OIDs. Property tests where the rule is arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from facade.model.identifiers import (
    IdentifierError,
    Nir,
    NirKeyError,
    check_ps_idnat,
    format_nir,
    is_oid,
    nir_key,
    normalize_nir,
    oid_from_urn,
    parse_nir,
    ps_idnat_from_rpps,
    struct_idnat_from_finess,
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


@st.composite
def nir_bodies(draw: st.DrawFn) -> str:
    """13-character bodies with the real shapes: metropolitan, Corsica 2A/2B, overseas 97x, born abroad 99,
    unusual month codes (20, 30-42, 50+)."""
    sex = draw(st.sampled_from("123478"))
    year = draw(st.integers(0, 99))
    month = draw(st.sampled_from([*range(1, 13), 20, *range(30, 43), 50, 62, 99]))
    kind = draw(st.sampled_from(["metro", "corsica", "overseas", "abroad"]))
    if kind == "metro":
        place = f"{draw(st.integers(1, 95)):02d}{draw(st.integers(1, 999)):03d}"
    elif kind == "corsica":
        place = draw(st.sampled_from(["2A", "2B"])) + f"{draw(st.integers(1, 999)):03d}"
    elif kind == "overseas":
        place = f"97{draw(st.integers(100, 899)):03d}"  # department 97 + 3-digit commune starting with 1..8
    else:
        place = f"99{draw(st.integers(100, 999)):03d}"  # 99 + INSEE country code
    order = draw(st.integers(1, 999))
    return f"{sex}{year:02d}{month:02d}{place}{order:03d}"


def numeric(body: str) -> int:
    return int(
        body.replace("2A", "19", 1) if body[5:7] == "2A" else body.replace("2B", "18", 1) if body[5:7] == "2B" else body
    )


@given(nir_bodies())
@example("2790351215189")
def test_key_makes_the_number_divisible_by_97(body: str) -> None:
    key = int(nir_key(body))
    assert 1 <= key <= 97
    assert (numeric(body) + key) % 97 == 0


def test_known_answer() -> None:
    assert nir_key("2790351215189") == "89"
    assert parse_nir("279035121518989") == Nir("2790351215189", "89")


@given(nir_bodies(), st.integers(0, 12), digits)
def test_single_digit_substitution_is_detected(body: str, position: int, digit: str) -> None:
    value = body + nir_key(body)
    if not value[position].isdigit() or value[position] == digit:
        return
    mutated = value[:position] + digit + value[position + 1 :]
    with pytest.raises(IdentifierError):
        parse_nir(mutated)


@given(nir_bodies(), st.integers(0, 13))
def test_adjacent_transposition_is_detected(body: str, position: int) -> None:
    value = body + nir_key(body)
    a, b = value[position], value[position + 1]
    if a == b or not (a.isdigit() and b.isdigit()):
        return
    mutated = value[:position] + b + a + value[position + 2 :]
    with pytest.raises(IdentifierError):
        parse_nir(mutated)


@given(nir_bodies(), st.booleans())
@example("2790351215189", True)  # ANS test patient 279035121518989 (INS-NIR de test): key 89
@example("185032A123456", False)
def test_parse_format_round_trip(body: str, grouped: bool) -> None:
    nir = Nir(body, nir_key(body))
    assert parse_nir(format_nir(nir, grouped=grouped)) == nir
    assert parse_nir(format_nir(nir, grouped=True).replace(" ", ".")) == nir


def test_spaces_dots_and_lowercase_corsica_are_tolerated() -> None:
    body = "185032A123456"
    value = f"1 85 03 2a 123 456 {nir_key(body)}"
    assert parse_nir(value).body == body
    assert normalize_nir(" 2.79.03 ") == "27903"


@pytest.mark.parametrize(
    "value",
    ["27903512151898", "2790351215189890", "5790351215189XX", "279035121518A89", "2790351215189ab", "", "2 79 03"],
)
def test_malformed(value: str) -> None:
    with pytest.raises(IdentifierError) as info:
        parse_nir(value)
    assert not isinstance(info.value, NirKeyError)


def test_wrong_key_reports_the_expected_one() -> None:
    with pytest.raises(NirKeyError) as info:
        parse_nir("279035121518988")
    assert (info.value.key, info.value.expected) == ("88", "89")


def test_ps_and_structure_ids() -> None:
    assert ps_idnat_from_rpps("10101201234") == "810101201234"
    assert struct_idnat_from_finess("690000880") == "1690000880"
    assert struct_idnat_from_finess("2A0000123") == "12A0000123"
    assert check_ps_idnat("3690000880/1453") == "3690000880/1453"
    for bad in ("1011848351", "1010120123a", ""):
        with pytest.raises(IdentifierError):
            ps_idnat_from_rpps(bad)
    for bad in ("69000088", "6900008800", "AB0000880"):
        with pytest.raises(IdentifierError):
            struct_idnat_from_finess(bad)
    with pytest.raises(IdentifierError):
        check_ps_idnat("81234")  # 8 + not an 11-digit RPPS


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("1.2.250.1.213.1.4.10", True),
        ("2.25.329800735698586629295641978511506172918", True),
        ("0.1", True),
        ("1", False),
        ("1.02.3", False),
        ("3.1.2", False),
        ("1.2.", False),
        ("1.2.250.1.213.1.4.8^123", False),
        ("1.2.3 ", False),
        ("1." + "1." * 40 + "1", False),  # over 64 characters
    ],
)
def test_oid_syntax(value: str, ok: bool) -> None:
    assert is_oid(value) is ok


def test_oid_from_urn() -> None:
    assert oid_from_urn("urn:oid:1.2.3") == "1.2.3"
    assert oid_from_urn("URN:OID:1.2.3") == "1.2.3"
    assert oid_from_urn("1.2.3") == "1.2.3"
    assert oid_from_urn("urn:uuid:0c1d2e3f-0000-4000-8000-000000000001") is None
