"""The PDF copy's line wrapping: the fast path for short lines gives textwrap's result exactly."""

from __future__ import annotations

import random
import textwrap

from facade.mapping.lab.pdf import _WRAP, _clean, _wrap


def _reference(line: str) -> list[str]:
    return textwrap.wrap(line, _WRAP, subsequent_indent="    ") or [""]


def test_wrap_matches_textwrap() -> None:
    rng = random.Random(12)
    alphabet = "ab  \xa0é\t\n\x0b\r x-(),."
    samples = ["", " ", "a", " a", "a ", "x" * _WRAP, "x" * (_WRAP + 1), "a " * 60, "Hémoglobine : 13,5 g/dL"]
    samples += ["  Hémoglobine", "    a  b", "   "]
    samples += [
        " " * rng.choice((0, 0, 1, 4)) + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 110)))
        for _ in range(3000)
    ]
    for line in samples:
        assert _wrap(line) == _reference(line), repr(line)


def test_clean_replaces_c0_controls_only() -> None:
    text = "".join(chr(c) for c in range(0x120))
    assert _clean(text) == "".join(ch if ch >= " " else " " for ch in text)
