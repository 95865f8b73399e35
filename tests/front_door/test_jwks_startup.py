"""Issue 14 item 9 (the parts in auth/bearer.py): a JWKS that is not JSON, holds private or symmetric keys, or has
no signature key made ``facade serve`` exit 1 with a 22-31 line traceback. Now: one line naming the file and the
problem, exit 3 (the code for a refused configuration), and the key material never printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from facade.app import create_app
from facade.errors import FacadeError, Problem
from facade.settings import Settings

from .conftest import AUDIENCE, ISSUER, Signer


def _bad_jwks(kind: str, rsa_signer: Signer) -> str:
    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_signer.key))
    return {
        "not JSON": "{'keys': [",
        "not UTF-8": "\udcff",
        "not a JWKS": json.dumps([rsa_signer.jwk]),
        "private key": json.dumps({"keys": [{**private, "kid": "x"}]}),
        "symmetric key": json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "kid": "h"}]}),
        "no key": json.dumps({"keys": []}),
        "encryption key only": json.dumps({"keys": [{**rsa_signer.jwk, "use": "enc"}]}),
    }[kind]


EXPECTED = {
    "not JSON": "not JSON",
    "not UTF-8": "not UTF-8",
    "not a JWKS": "not a JWKS",
    "private key": "private or symmetric",
    "symmetric key": "private or symmetric",
    "no key": "no RSA/EC signature key",
    "encryption key only": "no RSA/EC signature key",
}


def _settings(tmp_path: Path, jwks: Path) -> Settings:
    return Settings(
        environment="development",
        state_dir=tmp_path / "state",
        auth={"mode": "oauth2", "oauth2": {"issuer": ISSUER, "audience": AUDIENCE, "jwks_file": jwks}},
    )


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return path


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_an_unusable_jwks_is_one_configuration_error(kind: str, tmp_path: Path, rsa_signer: Signer) -> None:
    jwks = _write(tmp_path / "jwks.json", _bad_jwks(kind, rsa_signer))
    with pytest.raises(FacadeError) as refused:
        create_app(_settings(tmp_path, jwks))
    assert refused.value.problem is Problem.CONFIGURATION
    (issue,) = refused.value.issues
    assert EXPECTED[kind] in issue.message and str(jwks) in issue.message
    assert "\n" not in issue.message


@pytest.mark.parametrize("kind", ["not JSON", "private key"])
def test_facade_serve_refuses_to_start_with_one_line(kind: str, tmp_path: Path, rsa_signer: Signer) -> None:
    jwks = _write(tmp_path / "jwks.json", _bad_jwks(kind, rsa_signer))
    env = {
        **os.environ,
        "FACADE_ENVIRONMENT": "development",
        "FACADE_STATE_DIR": str(tmp_path / "state"),
        "FACADE_AUTH__MODE": "oauth2",
        "FACADE_AUTH__OAUTH2__ISSUER": ISSUER,
        "FACADE_AUTH__OAUTH2__AUDIENCE": AUDIENCE,
        "FACADE_AUTH__OAUTH2__JWKS_FILE": str(jwks),
    }
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "facade", "serve", "--port", "0"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3, done.stderr
    refusals = [line for line in done.stderr.splitlines() if line.startswith("facade: refusing to start")]
    assert len(refusals) == 1 and EXPECTED[kind] in refusals[0], done.stderr
    assert "Traceback" not in done.stderr
    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_signer.key))
    assert private["d"] not in done.stderr
