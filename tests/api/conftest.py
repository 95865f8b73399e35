from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from facade.app import create_app
from facade.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(environment="development", state_dir=tmp_path / "state")
    s.input.accept_test_ins = True
    return s


@pytest.fixture
def client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def _pki(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from facade.pki import init_test_pki

    return init_test_pki(tmp_path_factory.mktemp("pki"), structure_id="1120456789")


@pytest.fixture
def pki_settings(tmp_path: Path, _pki) -> Settings:  # type: ignore[no-untyped-def]
    """Development settings with sending configured (the DMP URL is not contacted by these tests)."""
    from facade.cli import demo_settings
    from tests.dmp_edge import DMP_URL

    return demo_settings(tmp_path / "state", DMP_URL, _pki)  # type: ignore[return-value]
