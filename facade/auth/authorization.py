"""What an authenticated client may do beyond feeding: read the audit trail and other clients' submissions."""

from __future__ import annotations

from collections.abc import Collection

from facade.auth.actor import Actor


def may_audit(actor: Actor | None, *, audit_scope: str, audit_subjects: Collection[str]) -> bool:
    """Development mode (no authentication), a token with the audit scope, or an allowed subject (mTLS DN / sub)."""
    if actor is None or actor.method == "none":
        return True
    return audit_scope in actor.scopes or actor.id in audit_subjects
