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


def _production_sending(tmp_path: Path, **overrides: object) -> dict[str, object]:
    """Production settings that send to a DMP, with the API authenticated (OAuth2 behind a TLS proxy)."""
    key = tmp_path / "issuer.pem"
    key.write_text("not read by Settings")
    values: dict[str, object] = {
        "environment": "production",
        "auth": {
            "mode": "oauth2",
            "tls_terminated_upstream": True,
            "oauth2": {"issuer": "https://idp.example", "audience": "facade", "public_keys": [key]},
        },
        "dmp": {"repository_url": "https://dmp.example/repository", "ca_bundle": tmp_path / "ca.pem"},
        "vihf": {"lps_homologation": "HOMOL-42"},
        "facility": {
            "finess_ej": "690000878",
            "finess_eg": "690000880",
            "source_id": "1.2.250.1.71.1.1",
            "oid_root": "1.2.250.1.71.1.1.1",
        },
    }
    return {**values, **overrides}


def test_production_sending_settings_of_a_real_installation_are_accepted(tmp_path: Path) -> None:
    s = Settings(**_production_sending(tmp_path))  # type: ignore[arg-type]
    assert s.refusals() == []


def test_every_unsafe_sending_value_is_refused_at_once(tmp_path: Path) -> None:
    values = _production_sending(
        tmp_path,
        dmp={"repository_url": "https://dmp.example/repository", "read_timeout": 400},  # no CA bundle
        vihf={},  # NON-HOMOLOGUE
        facility={},  # the demo FINESS and OIDs
    )
    with pytest.raises(ValidationError) as refused:
        Settings(**values)  # type: ignore[arg-type]
    (error,) = refused.value.errors()  # one error listing every refusal, each naming its setting
    for expected in (
        "FACADE_VIHF__LPS_HOMOLOGATION must be the DMP homologation number",
        "FACADE_FACILITY__SOURCE_ID and __OID_ROOT must be your own OIDs in production",
        "FACADE_FACILITY__FINESS_EJ / __FINESS_EG still hold the demo values",
        "FACADE_DMP__CA_BUNDLE (the DMP's CA certificates) is required",
        "FACADE_OUTBOX__LEASE_SECONDS (300.0) must exceed one attempt's worst case (500.0 s",
    ):
        assert expected in error["msg"]


def test_demo_identity_is_allowed_in_development_but_not_a_short_lease(tmp_path: Path) -> None:
    dmp = {"repository_url": "https://dmp.example/repository", "ca_bundle": tmp_path / "ca.pem"}
    assert Settings(environment="development", dmp=dmp).refusals() == []  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="FACADE_OUTBOX__LEASE_SECONDS"):
        Settings(environment="development", dmp=dmp, outbox={"lease_seconds": 60})  # type: ignore[arg-type]


def test_nothing_about_sending_is_refused_when_sending_is_off() -> None:
    assert Settings(environment="development", outbox={"lease_seconds": 1}).refusals() == []  # type: ignore[arg-type]
