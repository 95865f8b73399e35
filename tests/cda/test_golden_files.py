"""The golden helper itself: regenerating writes only output that passed validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cda import golden_files


@pytest.fixture
def golden_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(golden_files, "GOLDEN", tmp_path)
    monkeypatch.setenv("FACADE_REGEN_GOLDEN", "1")
    return tmp_path


def test_regenerating_refuses_an_invalid_output_and_writes_nothing(golden_dir: Path) -> None:
    with pytest.raises(AssertionError, match="fails validation"):
        golden_files.check_golden("kind/doc.xml", b"<bad/>", lambda data: ["xsd: line 1: not allowed"])
    assert not (golden_dir / "kind" / "doc.xml").exists()


def test_regenerating_writes_a_valid_output(golden_dir: Path) -> None:
    seen: list[bytes] = []

    def validate(data: bytes) -> list[str]:
        seen.append(data)
        return []

    golden_files.check_golden("kind/doc.xml", b"<good/>", validate)
    assert seen == [b"<good/>"] and (golden_dir / "kind" / "doc.xml").read_bytes() == b"<good/>"
