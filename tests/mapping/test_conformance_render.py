"""End to end on the input-side conformance bundles: mapping -> CDA (H2's renderer) -> ANS XSD + structuration
minimale schematron, through the kit's own validator. Marked conformance (Saxon compile: seconds)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from facade.cda.render import CdaRenderer

from .conftest import ROOT, Run
from .test_conformance_bundles import ALL

pytestmark = pytest.mark.conformance


@pytest.fixture(scope="module")
def renderer() -> CdaRenderer:
    return CdaRenderer(ROOT / "templates" / "cda")


@pytest.mark.parametrize("path", ALL, ids=[f"{p.parent.name}/{p.name}" for p in ALL])
def test_rendered_cda_passes_xsd_and_structuration_minimale(
    run: Run, renderer: CdaRenderer, kit_module: ModuleType, kit_validator: Any, path: Path, tmp_path: Path
) -> None:
    for i, request in enumerate(run(path).submission.documents):
        out = tmp_path / f"{i}.xml"
        out.write_bytes(renderer.render(request.document))
        result = kit_module.validate_file(out, kit_validator, doc_type="n1")
        assert result["xsd"] and result["schematron"], result  # both validators ran
        findings = [f for s in result["schematron"] for f in s["findings"] if f["error"]]
        assert kit_module.count_errors(result) == 0, (result["xsd_errors"], findings[:5])
