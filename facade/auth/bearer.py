"""OAuth2 bearer tokens: JWT access tokens validated locally (no call to the authorization server per request).

Checked: signature (RS256 or ES256 only; ``none`` and HMAC can never be selected, the accepted algorithms are fixed
here and the key type must match), ``iss``, ``aud``, ``exp`` (required), ``nbf``/``iat`` when present, ``sub``
(required: it is the audit actor), then the required scopes (``scope`` space-delimited string, RFC 9068, or an
``scp`` list). Keys come from a JWKS file (public keys only; re-read when a token names an unknown ``kid`` and the
file changed, for key rotation) or from PEM public keys / certificates.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from facade.auth.actor import Actor, AuthenticationError
from facade.errors import FacadeError, Problem

SUPPORTED_ALGORITHMS = ("RS256", "ES256")
MAX_TOKEN_BYTES = 8192  # larger "tokens" are refused before any parsing

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class BearerPolicy:
    issuer: str
    audience: str
    required_scopes: frozenset[str] = frozenset()
    algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS
    leeway: timedelta = timedelta(seconds=30)
    realm: str = "dmp-facade"

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise ValueError("a bearer policy needs an issuer and an audience")
        unsupported = set(self.algorithms) - set(SUPPORTED_ALGORITHMS)
        if unsupported or not self.algorithms:
            raise ValueError(f"unsupported JWT algorithms {sorted(unsupported)}; use {SUPPORTED_ALGORITHMS}")


@dataclass(frozen=True)
class _Key:
    kid: str | None
    key: PublicKey
    alg: str | None  # the JWK "alg", when the file pins one


def _fits(key: _Key, alg: str) -> bool:
    if key.alg is not None and key.alg != alg:
        return False
    if alg == "RS256":
        return isinstance(key.key, rsa.RSAPublicKey) and key.key.key_size >= 2048
    if alg == "ES256":
        return isinstance(key.key, ec.EllipticCurvePublicKey) and isinstance(key.key.curve, ec.SECP256R1)
    return False


@dataclass
class KeySet:
    keys: list[_Key] = field(default_factory=list)
    source: Path | None = None  # JWKS file, re-read on an unknown kid when its mtime changed
    _mtime: float | None = None

    @classmethod
    def from_jwks_file(cls, path: Path) -> KeySet:
        """The keys of a JWKS file; a file that cannot serve (unreadable, not JSON, private or symmetric keys, no
        signature key) is a FacadeError(CONFIGURATION) with a one-line reason: ``facade serve`` refuses to start."""
        try:
            keys = _read_jwks(path)
            return cls(keys, path, os.stat(path).st_mtime)
        except (OSError, ValueError) as exc:
            raise _unusable(f"the JWKS file {path}", exc) from None

    @classmethod
    def from_pem_files(cls, paths: Iterable[Path]) -> KeySet:
        paths = list(paths)
        try:
            keys = [_Key(None, _read_pem_public_key(p), None) for p in paths]
        except (OSError, ValueError, UnsupportedAlgorithm) as exc:
            raise _unusable(f"the public keys {', '.join(map(str, paths))}", exc) from None
        if not keys:
            raise FacadeError(Problem.CONFIGURATION, reason="no public key given for bearer tokens")
        return cls(keys)

    def candidates(self, kid: str | None, alg: str) -> list[PublicKey]:
        found = self._select(kid, alg)
        if not found and kid is not None and self._reload_if_changed():
            found = self._select(kid, alg)
        return found

    def _select(self, kid: str | None, alg: str) -> list[PublicKey]:
        # a key without kid (PEM) matches any token; a token without kid is tried against every fitting key
        return [k.key for k in self.keys if (kid is None or k.kid is None or k.kid == kid) and _fits(k, alg)]

    def _reload_if_changed(self) -> bool:
        if self.source is None:
            return False
        try:
            mtime = os.stat(self.source).st_mtime
            if mtime == self._mtime:
                return False
            self.keys, self._mtime = _read_jwks(self.source), mtime
        except (OSError, ValueError):
            return False  # keep the keys we have; a broken rotation must not open or close the door
        return True


def _unusable(what: str, exc: Exception) -> FacadeError:
    """A one-line CONFIGURATION error (never the key material: the libraries' messages name types, not values)."""
    if isinstance(exc, json.JSONDecodeError):
        reason = f"not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    elif isinstance(exc, UnicodeDecodeError):
        reason = "not UTF-8 text"
    elif isinstance(exc, OSError):
        reason = f"cannot be read ({exc.strerror or type(exc).__name__})"
    else:
        reason = " ".join(str(exc).split())[:300]  # one line, whatever the library said
    return FacadeError(Problem.CONFIGURATION, reason=f"{what}: {reason}")


def _read_jwks(path: Path) -> list[_Key]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWKS (no 'keys' list)")
    keys: list[_Key] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if any(part in entry for part in ("d", "p", "q", "k")):
            raise ValueError("it holds private or symmetric key material; give public keys only")
        if entry.get("kty") not in ("RSA", "EC"):
            continue
        try:
            key = jwt.PyJWK(entry).key
        except jwt.PyJWTError as exc:
            raise ValueError(f"unreadable key {entry.get('kid')!r}: {exc}") from None
        if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            keys.append(_Key(entry.get("kid"), key, entry.get("alg")))
    if not keys:
        raise ValueError("no RSA/EC signature key (use 'sig')")
    return keys


def _read_pem_public_key(path: Path) -> PublicKey:
    data = Path(path).read_bytes()
    key = x509.load_pem_x509_certificate(data).public_key() if b"CERTIFICATE" in data else load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError(f"{path} is not an RSA or EC public key")
    return key


class BearerVerifier:
    def __init__(self, policy: BearerPolicy, keys: KeySet) -> None:
        self.policy = policy
        self.keys = keys

    def challenge(self, error: str | None = None, description: str | None = None, scope: str | None = None) -> str:
        parts = [f'Bearer realm="{self.policy.realm}"']
        if error:
            parts.append(f'error="{error}"')
        if description:
            parts.append(f'error_description="{description}"')
        if scope:
            parts.append(f'scope="{scope}"')
        return ", ".join(parts)

    def _refuse(self, reason: str) -> AuthenticationError:
        return AuthenticationError(
            Problem.AUTH_INVALID_TOKEN, challenge=self.challenge("invalid_token", reason), reason=reason
        )

    def verify(self, token: str) -> Actor:
        if len(token) > MAX_TOKEN_BYTES:
            raise self._refuse("token too large")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise self._refuse("malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.policy.algorithms:
            raise self._refuse("signature algorithm not accepted")
        if kid is not None and not isinstance(kid, str):
            raise self._refuse("malformed token")
        keys = self.keys.candidates(kid, alg)
        if not keys:
            raise self._refuse("unknown signing key")
        claims = self._decode(token, alg, keys)
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise self._refuse("no subject")
        scopes = _scopes(claims)
        missing = sorted(self.policy.required_scopes - scopes)
        if missing:
            wanted = " ".join(sorted(self.policy.required_scopes))
            raise AuthenticationError(
                Problem.AUTH_INSUFFICIENT_SCOPE,
                challenge=self.challenge("insufficient_scope", scope=wanted),
                missing=" ".join(missing),
            )
        client = claims.get("client_id") or claims.get("azp")
        return Actor("oauth2", sub, client_id=client if isinstance(client, str) else None, scopes=frozenset(scopes))

    def _decode(self, token: str, alg: str, keys: Sequence[PublicKey]) -> dict[str, Any]:
        for n, key in enumerate(keys):
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=[alg],
                    audience=self.policy.audience,
                    issuer=self.policy.issuer,
                    leeway=self.policy.leeway,
                    options={"require": ["exp", "iss", "aud", "sub"], "verify_signature": True},
                )
                return claims
            except jwt.InvalidSignatureError:
                if n + 1 < len(keys):
                    continue  # several keys without kid: try the next one
                raise self._refuse("bad signature") from None
            except jwt.ExpiredSignatureError:
                raise self._refuse("token expired") from None
            except jwt.ImmatureSignatureError:
                raise self._refuse("token not yet valid") from None
            except jwt.InvalidAudienceError:
                raise self._refuse("wrong audience") from None
            except jwt.InvalidIssuerError:
                raise self._refuse("wrong issuer") from None
            except jwt.MissingRequiredClaimError as exc:
                raise self._refuse(f"missing claim {exc.claim}") from None
            except (jwt.PyJWTError, ValueError, TypeError):
                raise self._refuse("invalid token") from None
        raise self._refuse("unknown signing key")  # pragma: no cover - keys is never empty here


def _scopes(claims: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            out.update(value.split())
        elif isinstance(value, list):
            out.update(v for v in value if isinstance(v, str))
    return out
