"""Idempotency keys and request fingerprints of the outbox (re-exported by ``facade.outbox.store``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def document_idempotency_key(document_unique_ids: Iterable[str]) -> str:
    """Key derived from the documents' XDS uniqueIds (DocumentReference.masterIdentifier): the same documents
    posted twice map to the same record, whatever the client does with Idempotency-Key."""
    ids = sorted({i.strip() for i in document_unique_ids if i.strip()})
    if not ids:
        raise ValueError("at least one document uniqueId is needed to derive an idempotency key")
    return "documents:" + hashlib.sha256("\n".join(ids).encode()).hexdigest()


def client_idempotency_key(actor: str, key: str) -> str:
    """Key from the client's ``Idempotency-Key`` header, scoped to the client (two clients may pick the same key)."""
    if not key:
        raise ValueError("empty Idempotency-Key")
    return "client:" + hashlib.sha256(f"{actor}\0{key}".encode()).hexdigest()


def request_fingerprint(body: bytes) -> str:
    """Fingerprint of the client's request: same key + same fingerprint = replay; different fingerprint = conflict."""
    return "sha256:" + hashlib.sha256(body).hexdigest()
