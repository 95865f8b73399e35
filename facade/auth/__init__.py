"""Authentication of the facade's own clients (deny by default): mutual TLS or OAuth2 bearer JWTs, or an explicit
development mode. ``AuthMiddleware`` guards every path except a short public list; the authenticated ``Actor`` is
``request.state.actor`` for the routes and the audit trail."""

from facade.auth.actor import DEVELOPMENT_ACTOR, Actor, AuthenticationError
from facade.auth.authorization import may_audit
from facade.auth.bearer import BearerPolicy, BearerVerifier, KeySet
from facade.auth.certificate import ClientCertificatePolicy
from facade.auth.middleware import (
    PUBLIC_PATHS,
    Authenticator,
    AuthMiddleware,
    BearerAuthenticator,
    CertificateAuthenticator,
    DevelopmentAuthenticator,
)

__all__ = [
    "DEVELOPMENT_ACTOR",
    "PUBLIC_PATHS",
    "Actor",
    "AuthMiddleware",
    "AuthenticationError",
    "Authenticator",
    "BearerAuthenticator",
    "BearerPolicy",
    "BearerVerifier",
    "CertificateAuthenticator",
    "ClientCertificatePolicy",
    "DevelopmentAuthenticator",
    "KeySet",
    "may_audit",
]
