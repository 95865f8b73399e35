"""Fixtures for the signing tests: one generated test PKI per session (keys are made at test time)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from facade.credentials import Credential, load_pkcs12
from facade.pki import TestPki, init_test_pki
from facade.soap.vihf_claims import AUTOMATE, VihfClaims

STRUCTURE_ID = "10B0127189"  # '1' + test FINESS (spec digest §5.4)
ORG_NAME = "CH DE DEMONSTRATION"


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture(scope="session")
def pki(pki_dir: Path) -> TestPki:
    return init_test_pki(pki_dir, structure_id=STRUCTURE_ID, org_name=ORG_NAME, server_hosts=("dmp.test",))


@pytest.fixture(scope="session")
def sign_credential(pki: TestPki) -> Credential:
    return load_pkcs12(pki.sign_p12, pki.p12_password())


@pytest.fixture(scope="session")
def auth_credential(pki: TestPki) -> Credential:
    return load_pkcs12(pki.auth_p12, pki.p12_password())


TEST_INS_CX = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"  # ANS test INS (key 89)


def automate_claims(**changes: Any) -> VihfClaims:
    claims = VihfClaims(
        structure_id=STRUCTURE_ID,
        sector="SA01^1.2.250.1.71.4.2.4",
        subject_id="DMP facade, FHIR gateway, service informatique",
        name_id="10B0127189/FACADE",
        roles=(AUTOMATE,),
        patient_ins_cx=TEST_INS_CX,
        lps_name="DMP FACADE",
        lps_version="0.1.0",
        lps_homologation="TEST-HOMOLOGATION",
        lps_id="1.2.250.1.999.1",
    )
    return replace(claims, **changes)
