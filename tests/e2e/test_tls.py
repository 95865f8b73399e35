"""Issue 3, mutual TLS: a client certificate the DMP does not accept (another CA, or none at all) and a DMP
certificate we do not trust give a clear OperationOutcome (issue code security, our problem code); the submission is
dead after ONE attempt (nothing is retried) and the simulator received nothing."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from facade.credentials import DMP_TLS12_CIPHERS
from facade.errors import PROBLEM_SYSTEM
from facade.pki import TestPki, init_test_pki, make_foreign_ca_client
from facade.runtime import Runtime
from facade.settings import CredentialConfig, Settings
from facade.transport.mtls import MtlsTransport

from .conftest import Facade, bundle, outcome_codes


def _foreign_client_certificate(directory: Path) -> Callable[[Settings], None]:
    cert, key = make_foreign_ca_client(directory)

    def configure(settings: Settings) -> None:
        settings.dmp.auth = CredentialConfig(cert=cert, key=key)

    return configure


def _untrusted_server(directory: Path) -> Callable[[Settings], None]:
    other = init_test_pki(directory, structure_id="1999999999")

    def configure(settings: Settings) -> None:
        settings.dmp.ca_bundle = other.ca_cert  # the simulator's certificate does not chain to this CA

    return configure


def _no_client_certificate(pki: TestPki) -> Callable[[Runtime], None]:
    def prepare(runtime: Runtime) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the DMP, presents no certificate
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(DMP_TLS12_CIPHERS)
        ctx.load_verify_locations(cafile=str(pki.ca_cert))
        runtime.__dict__["transport"] = MtlsTransport(runtime.settings.dmp.repository_url, ctx, read_timeout=10)

    return prepare


@pytest.mark.parametrize("case", ["foreign-ca-client", "no-client-certificate", "untrusted-server"])
def test_tls_failure_is_a_security_outcome_and_is_not_retried(
    start_facade: Callable[..., Facade], e2e_pki: TestPki, tmp_path: Path, case: str
) -> None:
    if case == "foreign-ca-client":
        facade = start_facade(configure=_foreign_client_certificate(tmp_path / "foreign"))
        problem = "tls-rejected"
    elif case == "no-client-certificate":
        facade = start_facade(prepare=_no_client_certificate(e2e_pki))
        problem = "tls-rejected"
    else:
        facade = start_facade(configure=_untrusted_server(tmp_path / "other"))
        problem = "tls-server-untrusted"

    response = facade.post(bundle("ldl-ses/pdf-discharge-letter.json"))

    assert response.status_code == 502, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    (issue,) = outcome["issue"]
    assert issue["severity"] == "error" and issue["code"] == "security"
    assert (PROBLEM_SYSTEM, problem) in outcome_codes(outcome)
    assert facade.simulator.simulator.registry.by_unique_id("1.2.250.1.999.1.1.100.1") is None

    record = facade.record(response)
    assert record.state.value == "dead" and record.attempts == 1
    assert facade.retry() == []  # nothing is due: a TLS refusal is never retried
    task = facade.task(response)
    assert task["status"] == "failed" and task["input"][0]["valueInteger"] == 1
    assert facade.inbox() == []  # refused at the handshake: not one HTTP request reached the DMP
