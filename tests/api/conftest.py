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
