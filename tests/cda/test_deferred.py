"""Large base64 spliced after C14N (facade.cda.deferred): the bytes are exactly those of an inline render, and the
tree that was parsed, XSD-checked and canonicalised never held the base64 (issue 12, memory of a large PDF)."""

from __future__ import annotations

import base64
import os

import pytest

from facade.cda.canonical import canonical_form
from facade.cda.deferred import DEFER_AT, DeferredBase64, deferred_base64
from facade.cda.filters import b64
from facade.cda.render import DEFAULT_TEMPLATES_DIR, CdaRenderer
from facade.model.document import NonXmlBody

from .model_samples import n1_document

TEXT = ".//{urn:hl7-org:v3}nonXMLBody/{urn:hl7-org:v3}text"


@pytest.mark.parametrize("size", [DEFER_AT - 1, DEFER_AT, 3 * 1024 * 1024 + 1])
def test_the_spliced_document_is_byte_for_byte_the_inline_one(size: int) -> None:
    renderer = CdaRenderer(DEFAULT_TEMPLATES_DIR)
    doc = n1_document(body=NonXmlBody("application/pdf", b"%PDF-1.4\n" + os.urandom(size - 9)))
    inline = canonical_form(renderer.render_tree(doc)[1])
    spliced = renderer.render_canonical(doc)
    assert spliced.cda == inline.cda
    assert spliced.line_offset == inline.line_offset
    kept = spliced.tree.findtext(TEXT) or ""
    if size >= DEFER_AT:
        assert kept.startswith("b64-deferred-") and len(kept) < 100  # the tree held a marker, not megabytes
    else:
        assert kept == base64.b64encode(doc.body.data).decode()  # type: ignore[union-attr]


def test_outside_a_deferred_render_the_filter_writes_the_base64() -> None:
    data = os.urandom(DEFER_AT)
    assert str(b64(data)) == base64.b64encode(data).decode()
    with deferred_base64() as deferred:
        marker = str(b64(data))
    assert marker == deferred.marker(0) and deferred.splice(f"<t>{marker}</t>".encode()) == (
        b"<t>" + base64.b64encode(data) + b"</t>"
    )


def test_a_marker_that_is_missing_or_repeated_is_refused() -> None:
    deferred = DeferredBase64()
    marker = deferred.add(b"x" * DEFER_AT)
    with pytest.raises(ValueError, match="exactly once"):
        deferred.splice(b"<t/>")
    with pytest.raises(ValueError, match="exactly once"):
        deferred.splice(f"<t>{marker}</t><u>{marker}</u>".encode())


@pytest.mark.parametrize("sizes", [(1,), (DEFER_AT, 2), (3 * 2**18 - 1, 3 * 2**18, 3 * 2**18 + 1, 5 * 2**20 + 2)])
def test_the_splice_writes_the_whole_base64_of_each_data(sizes: tuple[int, ...]) -> None:
    """Written a chunk at a time into a buffer sized once: the same bytes as the base64 of each whole."""
    deferred = DeferredBase64()
    data = [os.urandom(size) for size in sizes]
    document = b"<d>" + b"".join(b"<t>" + deferred.add(d).encode() + b"</t>" for d in data) + b"</d>"
    expected = b"<d>" + b"".join(b"<t>" + base64.b64encode(d) + b"</t>" for d in data) + b"</d>"
    assert deferred.splice(document) == expected
