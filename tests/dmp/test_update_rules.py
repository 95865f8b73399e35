"""Rules of the PATCH service that need no DMP: only the authoring structure deletes; the demo runs in AIR mode
(masking and archiving open) while production stays INDIRECTE, where both are refused before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from facade.cli import _demo_banner, demo_settings
from facade.dmp import rights
from facade.dmp.registry_entry import RegistryEntry
from facade.dmp.update import check_author
from facade.errors import FacadeError, Problem
from facade.pki import TestPki
from facade.settings import FacilityConfig, Settings

FACILITY = FacilityConfig().to_model()


def _entry(*institutions: str) -> RegistryEntry:
    return RegistryEntry(
        entry_uuid="urn:uuid:1", logical_id="urn:uuid:1", unique_id="1.2.3", status="Approved", version="1",
        author_institutions=institutions,
    )  # fmt: skip


def test_only_the_authoring_structure_deletes() -> None:
    check_author(_entry(f"SITE^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1{FACILITY.finess_eg}"), FACILITY)
    check_author(_entry(f"EJ^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1{FACILITY.finess_ej}"), FACILITY)
    with pytest.raises(FacadeError) as caught:
        check_author(_entry("CABINET^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^499900063480001"), FACILITY)
    assert caught.value.problem is Problem.PATCH_NOT_OWN_DOCUMENT and caught.value.http_status == 403
    assert "499900063480001" in str(caught.value)


def test_demo_is_air_and_production_is_indirect(tmp_path: Path) -> None:
    pki = TestPki.at(tmp_path)  # demo_settings only reads the paths
    demo = demo_settings(tmp_path, "https://127.0.0.1:1/si-dmp-server/v2/services/repository", pki)
    assert isinstance(demo, Settings) and demo.vihf.auth_mode == "INDIRECTE_RENFORCEE"
    assert Settings.model_fields["vihf"].default_factory().auth_mode == "INDIRECTE"  # type: ignore[misc]
    assert "INDIRECTE_RENFORCEE" in _demo_banner("127.0.0.1", 8080, tmp_path, "https://sim")


@pytest.mark.parametrize(
    "transaction", [rights.Transaction.TD3_3A, rights.Transaction.TD3_3B, rights.Transaction.TD3_3D]
)
def test_indirect_refuses_masking_and_archiving_air_opens_them(transaction: rights.Transaction) -> None:
    with pytest.raises(FacadeError) as caught:
        rights.require("INDIRECTE", transaction)
    assert caught.value.http_status == 403
    rights.require("INDIRECTE_RENFORCEE", transaction)
    rights.require("INDIRECTE", rights.Transaction.TD3_3C)  # deleting its own documents stays open
