"""`facade preview` exit codes: 0 valid, 1 the output fails validation, 2 the input is rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facade.cli import main

ROOT = Path(__file__).resolve().parents[1]
GOOD = ROOT / "conformance/bundles/ldl-ses/pdf-discharge-letter.json"
BAD = ROOT / "tests/data/bundles/ins-wrong-key.json"


def test_valid_bundle_writes_the_artefacts_and_exits_0(tmp_path: Path, kit_path: Path) -> None:
    code = main(["preview", str(GOOD), "--out", str(tmp_path), "--kit", str(kit_path)])
    assert code == 0
    assert (tmp_path / "1.cda.xml").read_bytes().startswith(b"<ClinicalDocument")
    assert b"RegistryObjectList" in (tmp_path / "1.metadata.xml").read_bytes()
    outcome = json.loads((tmp_path / "outcome.json").read_text(encoding="utf-8"))
    assert outcome["resourceType"] == "OperationOutcome"
    assert not [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]


def test_rejected_input_exits_2_with_the_operation_outcome_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["preview", str(BAD), "--out", str(tmp_path)])
    assert code == 2
    outcome = json.loads(capsys.readouterr().err)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "ins-key-mismatch"
    assert outcome["issue"][0]["expression"]
    assert not (tmp_path / "1.cda.xml").exists()


def test_missing_bundle_file_exits_2_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", str(tmp_path / "nope.json"), "--out", str(tmp_path)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_output_failing_validation_exits_1(tmp_path: Path) -> None:
    # A kit whose CDA schema knows no ClinicalDocument: every produced CDA fails it.
    kit = tmp_path / "kit"
    (kit / "schemas/cda").mkdir(parents=True)
    (kit / "schemas/cda/CDA_extended.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:hl7-org:v3">'
        '<xs:element name="SomethingElse"/></xs:schema>'
    )
    code = main(["preview", str(GOOD), "--out", str(tmp_path / "out"), "--kit", str(kit)])
    assert code == 1
    outcome = json.loads((tmp_path / "out/outcome.json").read_text(encoding="utf-8"))
    assert any(i["details"]["coding"][0]["code"] == "output-xsd" for i in outcome["issue"])


def test_serve_refuses_to_start_with_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from facade.settings import get_settings

    get_settings.cache_clear()
    monkeypatch.setenv("FACADE_ENVIRONMENT", "production")  # no client authentication configured: deny by default
    try:
        assert main(["serve", "--port", "1"]) == 3
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith("facade: refusing to start:") and "FACADE_AUTH__MODE" in err
    assert "Traceback" not in err
