"""The rights matrix of the DMP transactions (pdsm4dmp §3.2) and the settings that open more."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from facade.dmp.rights import Transaction, allowed, require
from facade.errors import FacadeError, Problem
from facade.settings import Settings


def test_a_structure_certificate_may_feed_find_by_id_and_delete_but_not_mask_or_archive() -> None:
    opened = {t for t in Transaction if allowed("INDIRECTE", t)}
    assert opened == {Transaction.TD0_2, Transaction.TD2_1, Transaction.TD3_1B, Transaction.TD3_3C}


def test_refusal_names_the_transaction_the_mode_and_what_to_do_instead() -> None:
    with pytest.raises(FacadeError) as caught:
        require("INDIRECTE", Transaction.TD3_3A)
    assert caught.value.problem is Problem.DMP_RIGHTS_FORBIDDEN
    assert caught.value.problem.spec.http_status == 403
    message = str(caught.value)
    assert "TD3.3a" in message and "INDIRECTE" in message and "replacement document" in message


def test_air_and_granted_transactions_open_more() -> None:
    assert allowed("INDIRECTE_RENFORCEE", Transaction.TD3_3D)
    assert allowed("INDIRECTE", Transaction.TD3_3D, granted=["TD3.3d"])
    require("INDIRECTE", Transaction.TD3_2, granted=["TD3.2"])  # no raise
    assert not allowed("UNKNOWN", Transaction.TD0_2)


def test_granted_transactions_setting_is_split_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACADE_DMP__GRANTED_TRANSACTIONS", "TD3.3d, TD3.2")
    assert Settings(environment="development").dmp.granted_transactions == ["TD3.3d", "TD3.2"]
    monkeypatch.setenv("FACADE_DMP__GRANTED_TRANSACTIONS", "TD9")
    with pytest.raises(ValidationError, match="unknown DMP transactions"):
        Settings(environment="development")
