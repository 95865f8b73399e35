"""conformance/mapping.md (the DPI vendors' guide) must not drift from the code: every Problem code is documented,
the generated Problem table is current, the settings and defaults it quotes exist with those values, and the
identifier systems / extension URLs it tells vendors to send are the ones the mapping reads."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from facade.errors import Problem
from facade.mapping import bundle_to_submission, document, patient
from facade.model import identifiers
from facade.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "conformance" / "mapping.md"


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def problem_table() -> ModuleType:
    """conformance/problem_table.py, imported from its path (conformance/ is not a package)."""
    path = ROOT / "conformance" / "problem_table.py"
    spec = importlib.util.spec_from_file_location("conformance_problem_table", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_problem_code_is_in_the_guide(guide: str) -> None:
    missing = [p.name for p in Problem if f"`{p.spec.code}`" not in guide]
    assert not missing, f"not documented in conformance/mapping.md: {missing}"


def test_problem_table_is_generated_from_the_catalogue(guide: str, problem_table: ModuleType) -> None:
    block = problem_table.render()
    assert problem_table.replace_block(guide, block) == guide, "run: python conformance/problem_table.py --write"
    for p in Problem:  # each row carries the catalogue's status and issue type
        assert f"| `{p.spec.code}` | {p.spec.http_status} | `{p.spec.issue_type}` |" in block


def test_problem_table_refuses_a_member_without_a_hint(
    problem_table: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    hints = dict(problem_table.HINTS)
    del hints["INS_KEY_MISMATCH"]
    monkeypatch.setattr(problem_table, "HINTS", hints)
    with pytest.raises(KeyError, match="INS_KEY_MISMATCH"):
        problem_table.render()


def test_check_mode_detects_a_stale_guide(
    problem_table: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, guide: str
) -> None:
    stale = tmp_path / "mapping.md"
    stale.write_text(guide.replace("| `ins-key-mismatch` | 422 |", "| `ins-key-mismatch` | 400 |"), encoding="utf-8")
    monkeypatch.setattr(problem_table, "MAPPING_MD", stale)
    assert problem_table.main(["--check"]) == 1
    assert problem_table.main(["--write"]) == 0
    assert problem_table.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == guide


def _setting(name: str) -> tuple[bool, Any]:
    """(exists, default) of ``FACADE_A__B`` in Settings; a trailing ``*`` names a group of settings."""
    parts = name.removeprefix("FACADE_").rstrip("_*").lower().split("__")
    node: Any = Settings.model_fields
    default: Any = None
    for part in parts:
        if part not in node:
            return False, None
        field = node[part]
        default = field.get_default(call_default_factory=True)
        annotation = field.annotation
        node = annotation.model_fields if isinstance(annotation, type) and issubclass(annotation, BaseModel) else {}
    return True, default


def test_every_setting_named_in_the_guide_exists(guide: str) -> None:
    names = set(re.findall(r"FACADE_[A-Z0-9_]+\*?", guide)) - {"FACADE_CONFIG_FILE"}  # read by the TOML source
    assert names
    unknown = sorted(n for n in names if not _setting(n)[0])
    assert not unknown, f"conformance/mapping.md names settings that do not exist: {unknown}"


def test_defaults_quoted_in_the_guide_are_the_code_defaults(guide: str) -> None:
    rows = re.findall(r"^\| `(FACADE_[A-Z0-9_]+)` \| `([^`]*)` \|", guide, flags=re.MULTILINE)
    assert len(rows) >= 17  # the facility and input tables of §2
    for name, quoted in rows:
        exists, default = _setting(name)
        assert exists, name
        assert quoted == str(default), f"{name}: the guide says {quoted!r}, the code default is {default!r}"


def test_conventions_the_guide_teaches_are_the_ones_the_mapping_reads(guide: str) -> None:
    for value in (
        document.IDENTIFIER_TYPE_SYSTEM,
        document.SET_ID_TYPE,
        document.EXT_VERSION_NUMBER,
        bundle_to_submission.EXT_DESIGNATION_TYPE,
        patient.EXT_IDENTITY_RELIABILITY,
        patient.CS_IDENTITY_STATUS,
        patient.EXT_BIRTH_PLACE,
        identifiers.SYSTEM_RPPS,
        identifiers.SYSTEM_FINESS,
        identifiers.SYSTEM_IDNATPS,
        identifiers.SYSTEM_IDNATST,
        *(f"urn:oid:{oid}" for oid in identifiers.INS_OIDS_ALL),
    ):
        assert f"`{value}`" in guide or f"`{value}|" in guide, value
