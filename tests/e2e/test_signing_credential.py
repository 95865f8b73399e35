"""Issue 3: the VIHF must be signed with the ORG SIGN certificate. Configured with the AUTH credential as signer,
the facade refuses to start; forced past that check, the DMP (simulator) answers the DMPInvalidCertificate SOAP
Fault, which becomes a security OperationOutcome and is never retried."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from facade.errors import PROBLEM_SYSTEM, FacadeError, Problem
from facade.pki import TestPki
from facade.runtime import Runtime
from facade.settings import CredentialConfig, Settings
from facade.soap.envelope import SOAP12_NS

from .conftest import Facade, bundle, outcome_codes
from .received import NS, ReceivedRequest, signing_certificate_der


def _sign_with_auth(pki: TestPki) -> Callable[[Settings], None]:
    def configure(settings: Settings) -> None:
        settings.dmp.sign = CredentialConfig(p12=pki.auth_p12, p12_password_file=pki.password_file)

    return configure


def test_the_facade_refuses_to_start_with_the_auth_certificate_as_signer(
    start_facade: Callable[..., Facade], e2e_pki: TestPki
) -> None:
    with pytest.raises(FacadeError) as refused:
        start_facade(configure=_sign_with_auth(e2e_pki))
    assert refused.value.problem is Problem.CERTIFICATE_USAGE
    assert "authentication certificate" in str(refused.value)


def test_a_vihf_signed_with_the_auth_certificate_is_refused_by_the_dmp(
    start_facade: Callable[..., Facade], e2e_pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bypass_startup_check(runtime: Runtime) -> None:
        monkeypatch.setattr(runtime, "check_startup", lambda: None)

    facade = start_facade(configure=_sign_with_auth(e2e_pki), prepare=bypass_startup_check)
    response = facade.post(bundle("ldl-ses/pdf-discharge-letter.json"))

    assert response.status_code == 502, response.text
    outcome = response.json()
    (issue,) = outcome["issue"]
    assert issue["code"] == "security" and issue["severity"] == "error"
    codes = outcome_codes(outcome)
    assert (PROBLEM_SYSTEM, "dmp-invalid-certificate") in codes
    assert (SOAP12_NS, "DMPInvalidCertificate") in codes
    record = facade.record(response)
    assert record.state.value == "dead" and record.attempts == 1
    assert facade.retry() == []
    assert facade.simulator.simulator.registry.documents() == []

    # what reached the DMP was indeed signed with the AUTH_CLI certificate
    (path,) = facade.inbox()
    signature = ReceivedRequest.read(path).assertion.find("ds:Signature", NS)
    assert signature is not None
    auth_der = x509.load_pem_x509_certificate(e2e_pki.auth_cert.read_bytes()).public_bytes(Encoding.DER)
    assert signing_certificate_der(signature) == auth_der
