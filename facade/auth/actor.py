"""Who is calling, once authenticated, and the error raised when they are not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from facade.errors import Problem, RequestError


@dataclass(frozen=True)
class Actor:
    """The authenticated client. ``id`` is the certificate subject DN (RFC 4514) or the token ``sub``."""

    method: Literal["mtls", "oauth2", "none"]
    id: str
    organisation: str | None = None  # certificate OU (Struct_IdNat on IGC-Santé ORG certificates)
    client_id: str | None = None  # token client_id / azp
    scopes: frozenset[str] = frozenset()

    def __str__(self) -> str:
        return f"{self.method}:{self.id}"


DEVELOPMENT_ACTOR = Actor("none", "anonymous-development")


class AuthenticationError(RequestError):
    """401 (``login``) or 403 (``forbidden``); ``challenge`` is the WWW-Authenticate value to send, if any."""

    def __init__(self, problem: Problem, /, *, challenge: str | None = None, **details: Any) -> None:
        super().__init__(problem, **details)
        self.challenge = challenge
