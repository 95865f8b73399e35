"""The byte-level gate before the walk for characters FHIR strings and XML cannot carry (issue 12: the walk over every
string of a request is skipped when the body cannot decode to one). The gate may say yes wrongly, never no wrongly:
checked here for every such character, however a JSON writer spells it."""

from __future__ import annotations

import json

import pytest

from facade.errors import BundleParseError
from facade.fhir.parse import _FORBIDDEN_CHARACTERS, _MAY_DECODE_TO_FORBIDDEN, parse_request

FORBIDDEN = [chr(c) for c in range(0x10000) if _FORBIDDEN_CHARACTERS.match(chr(c))]


def test_the_list_is_the_whole_class() -> None:
    assert len(FORBIDDEN) == 29 + 2048 + 2  # C0 but TAB/CR/LF, the surrogates, U+FFFE/U+FFFF


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_every_spelling_of_a_forbidden_character_opens_the_gate(ensure_ascii: bool) -> None:
    for char in FORBIDDEN:
        text = json.dumps({"family": f"Dupont{char}"}, ensure_ascii=ensure_ascii)
        try:
            body = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate written raw is not UTF-8: such a body is refused before
            continue
        assert _MAY_DECODE_TO_FORBIDDEN.search(body), f"U+{ord(char):04X} as {text!r}"


def test_ordinary_french_text_escaped_or_not_keeps_the_gate_shut() -> None:
    for ensure_ascii in (True, False):
        value = {"family": "Hélène Œuvray-Dupont", "text": "ligne 1\nligne 2\tfin"}
        body = json.dumps(value, ensure_ascii=ensure_ascii)
        assert not _MAY_DECODE_TO_FORBIDDEN.search(body.encode())


def test_a_forbidden_character_is_still_refused_with_its_location() -> None:
    body = json.dumps({"resourceType": "DocumentReference", "status": "current\u0007"}).encode()
    with pytest.raises(BundleParseError) as refused:
        parse_request(body)
    assert refused.value.issues[0].expression == "DocumentReference.status"
