"""OAuth2 bearer tokens on the facade's API (in-process, production settings behind a TLS proxy)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI
from fastapi.testclient import TestClient

from facade.auth import BearerPolicy, BearerVerifier, KeySet
from facade.auth.actor import AuthenticationError
from facade.errors import FacadeError, Problem

from .conftest import AUDIENCE, ISSUER, SCOPE, Signer, whoami_app, write_jwks

PROTECTED = "/fhir/_whoami"


def _codes(body: dict) -> list[str]:
    return [c["code"] for i in body["issue"] for c in i["details"]["coding"]]


def _client(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def _refused(r, status: int, issue: str, code: str) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == issue
    assert code in _codes(body)
    assert r.headers["content-type"].startswith("application/fhir+json")


def test_no_token_is_401_login_with_bearer_challenge(oauth2_app: FastAPI) -> None:
    r = _client(oauth2_app).get(PROTECTED)
    _refused(r, 401, "login", "auth-required")
    assert r.headers["www-authenticate"].startswith('Bearer realm="dmp-facade"')
    assert "error=" not in r.headers["www-authenticate"]  # RFC 6750 §3: no error code when no credentials


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "token abc", ""])
def test_other_schemes_or_empty_bearer_are_401(oauth2_app: FastAPI, header: str) -> None:
    r = _client(oauth2_app).get(PROTECTED, headers={"Authorization": header})
    _refused(r, 401, "login", "auth-required")


def test_valid_rs256_token_reaches_the_route_and_sets_the_actor(oauth2_app: FastAPI, rsa_signer: Signer) -> None:
    r = _client(oauth2_app).get(PROTECTED, headers={"Authorization": f"Bearer {rsa_signer.token()}"})
    assert r.status_code == 200, r.text
    expected = {"method": "oauth2", "id": "dpi-cardio-01", "organisation": None, "scopes": ["dmp.feed", "openid"]}
    assert r.json() == expected


def test_valid_es256_token_and_scp_list_claim(oauth2_app: FastAPI, ec_signer: Signer) -> None:
    token = ec_signer.token(scope=None, scp=[SCOPE])
    r = _client(oauth2_app).get(PROTECTED, headers={"Authorization": f"bearer {token}"})  # scheme is case-insensitive
    assert r.status_code == 200, r.text
    assert r.json()["scopes"] == [SCOPE]


def test_real_fhir_endpoints_are_protected_too(oauth2_app: FastAPI, rsa_signer: Signer) -> None:
    client = _client(oauth2_app)
    assert client.get("/fhir/OperationDefinition/preview").status_code == 401
    r = client.post("/fhir/Bundle/$preview", content=b"{}", headers={"content-type": "application/fhir+json"})
    _refused(r, 401, "login", "auth-required")
    ok = client.get("/fhir/OperationDefinition/preview", headers={"Authorization": f"Bearer {rsa_signer.token()}"})
    assert ok.status_code == 200
    assert ok.json()["resourceType"] == "OperationDefinition"


def test_unknown_paths_answer_401_before_404(oauth2_app: FastAPI, rsa_signer: Signer) -> None:
    client = _client(oauth2_app)
    assert client.get("/fhir/Nothing/here").status_code == 401
    assert client.get("/_docs").status_code == 401
    assert client.get("/fhir//metadata").status_code == 401  # only the exact public path is public
    authed = client.get("/fhir/Nothing/here", headers={"Authorization": f"Bearer {rsa_signer.token()}"})
    assert authed.status_code == 404


def test_metadata_and_health_are_public(oauth2_app: FastAPI) -> None:
    client = _client(oauth2_app)
    r = client.get("/fhir/metadata")
    assert r.status_code == 200
    assert r.json()["resourceType"] == "CapabilityStatement"
    assert client.get("/health").status_code == 200


def _other_key_same_kid(signer: Signer) -> Signer:
    return Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", signer.kid)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("bad-signature", "bad signature"),
        ("tampered-payload", "bad signature"),
        ("expired", "token expired"),
        ("not-yet-valid", "token not yet valid"),
        ("wrong-audience", "wrong audience"),
        ("wrong-issuer", "wrong issuer"),
        ("no-exp", "missing claim exp"),
        ("no-sub", "missing claim sub"),
        ("unknown-kid", "unknown signing key"),
        ("alg-none", "signature algorithm not accepted"),
        ("hs256-with-public-key", "signature algorithm not accepted"),
        ("garbage", "malformed token"),
    ],
)
def test_refused_tokens_are_401_invalid_token(
    oauth2_app: FastAPI, rsa_signer: Signer, case: str, reason: str
) -> None:
    now = datetime.now(UTC)
    token = {
        "bad-signature": lambda: _other_key_same_kid(rsa_signer).token(),
        "tampered-payload": lambda: _tamper(rsa_signer.token(), sub="someone-else"),
        "expired": lambda: rsa_signer.token(iat=now - timedelta(hours=2), exp=now - timedelta(hours=1)),
        "not-yet-valid": lambda: rsa_signer.token(nbf=now + timedelta(hours=1)),
        "wrong-audience": lambda: rsa_signer.token(aud="https://other.example.test"),
        "wrong-issuer": lambda: rsa_signer.token(iss="https://evil.example.test"),
        "no-exp": lambda: rsa_signer.token(exp=None),
        "no-sub": lambda: rsa_signer.token(sub=None),
        "unknown-kid": lambda: rsa_signer.token(headers={"kid": "nope"}),
        "alg-none": lambda: _unsigned(rsa_signer.token()),
        "hs256-with-public-key": lambda: _hs256_with_public_key(rsa_signer),
        "garbage": lambda: "not.a.jwt",
    }[case]()
    r = _client(oauth2_app).get(PROTECTED, headers={"Authorization": f"Bearer {token}"})
    _refused(r, 401, "login", "auth-invalid-token")
    challenge = r.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge
    assert reason in r.json()["issue"][0]["details"]["text"]
    assert token not in r.text  # the credential is never echoed


def test_missing_scope_is_403_forbidden_with_insufficient_scope(oauth2_app: FastAPI, rsa_signer: Signer) -> None:
    r = _client(oauth2_app).get(PROTECTED, headers={"Authorization": f"Bearer {rsa_signer.token(scope='openid')}"})
    _refused(r, 403, "forbidden", "auth-insufficient-scope")
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert f'scope="{SCOPE}"' in r.headers["www-authenticate"]


def test_two_authorization_headers_are_refused(oauth2_app: FastAPI, rsa_signer: Signer) -> None:
    token = rsa_signer.token()
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    r = _client(oauth2_app).get(PROTECTED, headers=headers)
    assert r.status_code == 401


def test_key_rotation_reloads_the_jwks_file(oauth2_app: FastAPI, jwks_file: Path, rsa_signer: Signer) -> None:
    new = Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", "rsa-2")
    client = _client(oauth2_app)
    assert client.get(PROTECTED, headers={"Authorization": f"Bearer {new.token()}"}).status_code == 401
    write_jwks(jwks_file, rsa_signer, new)
    _bump_mtime(jwks_file)
    assert client.get(PROTECTED, headers={"Authorization": f"Bearer {new.token()}"}).status_code == 200


def test_pem_public_keys_instead_of_jwks(tmp_path: Path, ec_signer: Signer, rsa_signer: Signer) -> None:
    pem = tmp_path / "idp.pub.pem"
    pem.write_bytes(ec_signer.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    verifier = BearerVerifier(BearerPolicy(ISSUER, AUDIENCE, frozenset({SCOPE})), KeySet.from_pem_files([pem]))
    assert verifier.verify(ec_signer.token(headers={"kid": "anything"})).id == "dpi-cardio-01"
    with pytest.raises(AuthenticationError) as refused:  # an RSA token cannot select the EC key
        verifier.verify(rsa_signer.token())
    assert refused.value.problem is Problem.AUTH_INVALID_TOKEN


def test_jwks_with_private_key_material_is_refused(tmp_path: Path, rsa_signer: Signer) -> None:
    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_signer.key))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**private, "kid": "x"}]}))
    with pytest.raises(FacadeError, match="private") as refused:
        KeySet.from_jwks_file(path)
    assert refused.value.problem is Problem.CONFIGURATION


def test_small_rsa_and_wrong_curve_keys_never_verify(tmp_path: Path) -> None:
    weak = Signer(rsa.generate_private_key(public_exponent=65537, key_size=1024), "RS256", "weak")
    p384 = ec.generate_private_key(ec.SECP384R1())
    jwk384 = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(p384.public_key())), "kid": "p384"}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [weak.jwk, jwk384]}))
    verifier = BearerVerifier(BearerPolicy(ISSUER, AUDIENCE), KeySet.from_jwks_file(path))
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        weak_token = weak.token()
    with pytest.raises(AuthenticationError, match="unknown signing key"):
        verifier.verify(weak_token)
    es = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": 2**40}, p384, algorithm="ES384",
                    headers={"kid": "p384"})
    with pytest.raises(AuthenticationError, match="algorithm not accepted"):
        verifier.verify(es)


def test_policy_refuses_unsupported_algorithms() -> None:
    with pytest.raises(ValueError):
        BearerPolicy(ISSUER, AUDIENCE, algorithms=("HS256",))
    with pytest.raises(ValueError):
        BearerPolicy("", AUDIENCE)


# --- helpers ------------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _tamper(token: str, **claims: object) -> str:
    header, payload, signature = token.split(".")
    data = json.loads(_unb64(payload))
    data.update(claims)
    return f"{header}.{_b64(json.dumps(data).encode())}.{signature}"


def _unsigned(token: str) -> str:
    _, payload, _ = token.split(".")
    return f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': 'rsa-1'}).encode())}.{payload}."


def _hs256_with_public_key(signer: Signer) -> str:
    # the classic algorithm-confusion attack: HMAC keyed with the server's public key bytes
    import hashlib
    import hmac

    public_pem = signer.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": signer.kid}).encode())
    _, payload, _ = signer.token().split(".")
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(mac)}"


def _bump_mtime(path: Path) -> None:
    import os

    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_whoami_helper_is_not_part_of_the_product(oauth2_settings) -> None:  # type: ignore[no-untyped-def]
    from facade.app import create_app

    app = create_app(oauth2_settings)
    assert all(getattr(r, "path", "") != PROTECTED for r in app.routes)
    assert whoami_app(app) is app
