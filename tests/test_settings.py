"""Settings: FACADE_* environment (nested with __), optional TOML file, unsafe values refused at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from facade.settings import Settings


@pytest.fixture(autouse=True)
def _development(monkeypatch: pytest.MonkeyPatch) -> None:
    # production additionally requires client authentication of the API (tests/front_door)
    monkeypatch.setenv("FACADE_ENVIRONMENT", "development")


def test_environment_variables_fill_nested_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACADE_FACILITY__FINESS_EG", "690000880")
    monkeypatch.setenv("FACADE_DMP__READ_TIMEOUT", "42")
    s = Settings()
    assert s.facility.finess_eg == "690000880"
    assert s.facility.to_model().struct_idnat == "1690000880"
    assert s.dmp.read_timeout == 42.0


def test_toml_file_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "facade.toml"
    config.write_text('[facility]\nsite_name = "CH de Test"\nfiness_eg = "111111111"\n[dmp]\nread_timeout = 7\n')
    monkeypatch.setenv("FACADE_CONFIG_FILE", str(config))
    monkeypatch.setenv("FACADE_DMP__READ_TIMEOUT", "9")
    s = Settings()
    assert s.facility.site_name == "CH de Test"
    assert s.facility.finess_eg == "111111111"
    assert s.dmp.read_timeout == 9.0


def test_plain_http_dmp_endpoint_is_refused() -> None:
    with pytest.raises(ValidationError, match="https"):
        Settings(dmp={"repository_url": "http://dmp.example/repository"})


def test_test_ins_oids_are_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="accept_test_ins"):
        Settings(environment="production", input={"accept_test_ins": True}, auth={"mode": "oauth2"})
    assert Settings(environment="development", input={"accept_test_ins": True}).input.accept_test_ins


def test_unknown_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError):
        Settings(not_a_setting=1)  # type: ignore[call-arg]


def test_production_ins_policy_excludes_test_oids() -> None:
    from facade.settings import InputConfig

    oids = InputConfig().accepted_ins_oids()
    assert oids == {"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9"}
