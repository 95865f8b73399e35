"""A transport wrapper that changes the ITI-41 body after the facade built (and signed) it, the way a broken
proxy or an attacker would, then sends it over the real mutual-TLS transport. The VIHF is left intact, so the DMP
(simulator) gets past security and reports what is wrong with the content."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable

from facade.runtime import Runtime
from facade.soap.envelope import SoapRequest, SoapResponse
from facade.transport.mtls import MtlsTransport

Mutation = Callable[[bytes], bytes]
DE_PATIENT_ID = b"urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = b"urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"


class TamperingTransport:
    def __init__(self, inner: MtlsTransport, mutate: Mutation) -> None:
        self.inner = inner
        self.mutate = mutate

    def send(self, request: SoapRequest) -> SoapResponse:
        body = self.mutate(request.body)
        assert body != request.body, "the mutation changed nothing"
        return self.inner.send(dataclasses.replace(request, body=body))

    def close(self) -> None:
        self.inner.close()


def tampering(mutate: Mutation) -> Callable[[Runtime], None]:
    """``start_facade(prepare=tampering(...))``: the feeder sends through a TamperingTransport."""

    def prepare(runtime: Runtime) -> None:
        runtime.__dict__["transport"] = TamperingTransport(runtime.transport, mutate)

    return prepare


def _cda_title_offset(body: bytes) -> int:
    start = body.index(b"<ClinicalDocument")
    return body.index(b"<title>", start) + len(b"<title>")


def flip_cda_byte(body: bytes) -> bytes:
    """One byte of the CDA part's title changed (still well-formed, same size)."""
    i = _cda_title_offset(body)
    return body[:i] + (b"X" if body[i : i + 1] != b"X" else b"Y") + body[i + 1 :]


def _cda_part(body: bytes) -> bytes:
    start = body.index(b"<ClinicalDocument")
    end = body.index(b"</ClinicalDocument>", start) + len(b"</ClinicalDocument>")
    return body[start:end]


def flip_cda_byte_and_fix_hash(body: bytes) -> bytes:
    """Same change, with the XDS hash slot updated: only the XAdES manifest digest can catch it."""
    old = hashlib.sha1(_cda_part(body)).hexdigest().encode()  # noqa: S324 (XDS hash is SHA-1)
    changed = flip_cda_byte(body)
    new = hashlib.sha1(_cda_part(changed)).hexdigest().encode()  # noqa: S324
    assert changed.count(old) == 1
    return changed.replace(old, new)


def wrong_size(body: bytes) -> bytes:
    size = str(len(_cda_part(body))).encode()
    slot = b'<rim:Slot name="size"><rim:ValueList><rim:Value>' + size + b"</rim:Value>"
    assert body.count(slot) == 1
    return body.replace(slot, slot.replace(size, str(int(size) + 1).encode()))


def _document_external_id(body: bytes, scheme: bytes, value: Callable[[bytes], bytes]) -> bytes:
    """Change the ExternalIdentifier ``scheme`` of the (first) document entry, not the signature's."""
    pattern = re.compile(
        rb'(identificationScheme="' + re.escape(scheme) + rb'" registryObject="(?!Signature01)[^"]*" value=")([^"]*)"'
    )
    m = pattern.search(body)
    assert m is not None
    return body[: m.start(2)] + value(m.group(2)) + body[m.end(2) :]


def other_patient(body: bytes) -> bytes:
    """The document entry's patientId names another patient than the submission set's."""
    return _document_external_id(body, DE_PATIENT_ID, lambda cx: b"279035121518989" + cx[15:])


def other_unique_id(body: bytes) -> bytes:
    """The document entry's uniqueId is not the CDA id."""
    return _document_external_id(body, DE_UNIQUE_ID, lambda uid: uid + b".999")


def without_document(body: bytes) -> bytes:
    """The xdsb:Document of the CDA entry is left out (its ExtrinsicObject is still there)."""
    m = re.search(rb'<xdsb:Document id="(?!Signature01)[^"]*"><xop:Include [^>]*/></xdsb:Document>', body)
    assert m is not None
    return body[: m.start()] + body[m.end() :]
