from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2.filters import do_indent
from markupsafe import Markup

from facade.cda.environment import create_environment
from facade.cda.filters import (
    b64,
    hl7_ts,
    hl7_ts_utc,
    indent,
    name_prefix,
    name_suffix,
    strip_control,
    truncate_title,
    xml_text,
)
from facade.cda.render import DEFAULT_TEMPLATES_DIR

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2009, 5, 29, 9, 49, 14, tzinfo=PARIS), "20090529094914+0200"),
        (datetime(2024, 1, 15, 8, 5, 0, tzinfo=PARIS), "20240115080500+0100"),
        (datetime(2024, 1, 15, 8, 5, 0, tzinfo=UTC), "20240115080500+0000"),
        (datetime(2024, 1, 15, 8, 5, 0, tzinfo=timezone(timedelta(hours=-3, minutes=-30))), "20240115080500-0330"),
        (datetime(2024, 1, 15, 8, 5, 0, 999999, tzinfo=UTC), "20240115080500+0000"),  # to the second
    ],
)
def test_hl7_ts_keeps_the_offset(value: datetime, expected: str) -> None:
    assert hl7_ts(value) == expected


@given(
    value=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30)),
    offset=st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)),
)
def test_hl7_ts_writes_what_strftime_writes(value: datetime, offset: timedelta) -> None:
    aware = value.replace(tzinfo=timezone(offset))  # offsets with seconds and microseconds included
    assert hl7_ts(aware) == aware.strftime("%Y%m%d%H%M%S") + aware.strftime("%z")[:5]


def test_hl7_ts_utc_converts_to_utc() -> None:
    assert hl7_ts_utc(datetime(2009, 5, 29, 9, 49, 14, tzinfo=PARIS)) == "20090529074914"
    # across midnight and the year boundary
    assert hl7_ts_utc(datetime(2024, 1, 1, 0, 30, tzinfo=PARIS)) == "20231231233000"


@pytest.mark.parametrize("fn", [hl7_ts, hl7_ts_utc])
def test_naive_datetimes_are_refused(fn: object) -> None:
    with pytest.raises(ValueError, match="naive"):
        fn(datetime(2024, 1, 1, 12, 0))  # type: ignore[operator]


def test_b64_is_safe_markup_without_line_breaks() -> None:
    out = b64(bytes(range(256)) * 100)
    assert isinstance(out, Markup)
    assert "\n" not in out and len(out) == 4 * ((25600 + 2) // 3)
    assert b64(b"") == ""


def test_xml_text_strips_forbidden_characters_and_none() -> None:
    assert xml_text(None) == ""
    assert xml_text("a\x0bb\x00c\x1fd\ufffe\tok\r\n") == "abcd\tok\r\n"
    assert xml_text(3) == 3
    safe = Markup("<x/>")
    assert xml_text(safe) is safe
    assert strip_control("x\x08y") == "xy"


def test_truncate_title_limits_to_128_characters() -> None:
    assert truncate_title("court") == "court"
    long = "x" * 200
    out = truncate_title(long)
    assert len(out) == 128 and out.endswith("…")
    assert truncate_title("y" * 128) == "y" * 128


@pytest.mark.parametrize(
    ("prefix", "civility", "title"),
    [
        ("Mme", "MME", None),
        ("M.", "M", None),
        ("Monsieur", "M", None),
        ("Dr", None, "DR"),
        ("Dr.", None, "DR"),
        ("Pr", None, None),
        (None, None, None),
        ("", None, None),
    ],
)
def test_prefix_is_split_into_civility_and_title(prefix: str | None, civility: str | None, title: str | None) -> None:
    assert name_prefix(prefix) == civility
    assert name_suffix(prefix) == title


_PIECES = ["\n", " ", "a", "<", "&", "\r", "\u2028", "\x85", "\x0b", "é", "\\", "\\1", "\n<b/>"]
_LINES = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)


@given(text=_LINES, width=st.one_of(st.integers(0, 12), st.sampled_from(["\t", "--", "\\1"])), first=st.booleans())
def test_indent_gives_exactly_jinjas_output(text: str, width: int | str, first: bool) -> None:
    for value in (text, Markup(text)):
        ours = indent(value, width, first)
        assert ours == do_indent(value, width, first)
        assert type(ours) is type(do_indent(value, width, first))  # Markup stays Markup: it is not escaped again


def test_indent_is_the_environments_filter() -> None:
    env = create_environment(DEFAULT_TEMPLATES_DIR)
    assert env.filters["indent"] is indent
    out = env.from_string("{% macro m() %}<a>\n<b/>\n\n</a>{% endmacro %}  {{ m()|indent(2) }}").render()
    assert out == "  <a>\n  <b/>\n\n  </a>"


def test_xml_text_fast_path_never_skips_a_forbidden_character() -> None:
    """xml_text returns printable strings untouched: every character the regex strips must be non-printable."""
    from facade.cda.filters import _XML_FORBIDDEN

    forbidden = [chr(c) for c in range(0x110000) if _XML_FORBIDDEN.match(chr(c))]
    assert len(forbidden) == 29 + 2048 + 2
    assert not any(c.isprintable() for c in forbidden)
    assert all(xml_text(f"a{c}b") == "ab" for c in forbidden)
