"""Inclusive C14N 1.0, and the canonical CDA: parsed once, canonicalised once, then handed on.

A CDA is sent in its C14N-with-comments form (spec digest §4.2): the XAdES manifest digest is then the digest of the
bytes on the wire. ``CanonicalXml`` marks bytes that ARE that form (produced here from a parsed tree), so the lot
signature hashes them as they are instead of parsing and canonicalising them again (C14N is idempotent:
c14n(parse(c14n(d))) == c14n(d)). Any other bytes are parsed and canonicalised by the signer, as before.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from lxml import etree


class CanonicalXml(bytes):
    """UTF-8 bytes that are the C14N 1.0 with comments of a whole document (see ``canonical_form``)."""

    __slots__ = ()


def canonicalize(el: etree._Element | etree._ElementTree, *, with_comments: bool) -> bytes:
    """Inclusive C14N 1.0 of a whole document, or of an element's subtree as it stands in its document.

    lxml canonicalises a non-root element wrongly when its default namespace is declared on an ancestor (children
    come out with xmlns=""), so the subtree is first copied under a root carrying every in-scope declaration.
    """
    if isinstance(el, etree._Element) and el.getparent() is not None:
        apex = etree.Element(el.tag, attrib=dict(el.attrib), nsmap=el.nsmap)
        apex.text = el.text
        for child in el:
            copied = copy.deepcopy(child)
            apex.append(copied)
            copied.tail = child.tail
        el = apex
    data: bytes = etree.tostring(el, method="c14n", exclusive=False, with_comments=with_comments)
    return data


@dataclass(frozen=True)
class CanonicalDocument:
    """One parse of a document and its canonical bytes. ``tree`` is the parse of the bytes as rendered (or supplied);
    ``line`` maps one of its line numbers to the same line in ``cda`` (the bytes sent): C14N drops the XML
    declaration and whitespace outside the root, and keeps every line break inside it."""

    tree: etree._ElementTree
    cda: CanonicalXml
    line_offset: int

    def line(self, tree_line: int) -> int:
        return max(1, tree_line - self.line_offset)


def canonical_form(tree: etree._ElementTree) -> CanonicalDocument:
    """The document's C14N-with-comments bytes and the line mapping, from its (only) parse."""
    root = tree.getroot()
    cda = CanonicalXml(etree.tostring(tree, method="c14n", exclusive=False, with_comments=True))
    # each comment / PI before the root is written followed by one line break
    prolog_lines = sum(etree.tostring(node).count(b"\n") + 1 for node in root.itersiblings(preceding=True))
    offset = (root.sourceline or 1) - (1 + prolog_lines)
    return CanonicalDocument(tree, cda, offset)


__all__ = ["CanonicalDocument", "CanonicalXml", "canonical_form", "canonicalize"]
