"""The only way inbound XML is parsed (architecture guide §2a, signxml pattern).

Every XML byte string that comes from outside the process (a supplied CDA, a DMP answer, a VIHF or a lot signature
to verify, what the simulator receives) goes through :func:`parse` (bytes this process wrote: :func:`parse_own`):

1. a *probe* pass (a target parser that stops at the root start tag) refuses any DOCTYPE before libxml2 reads a
   single declaration of it, so no DTD (internal or external), no parameter entity, no general entity is ever
   processed, whatever the declared encoding (the probe is libxml2 itself, not a byte search);
2. the real pass uses :func:`parser`: entities not substituted, no DTD loading, no network, libxml2's resource limits
   on (depth 256, text node / attribute value 10 MB, name length) unless ``large_text`` is asked for;
3. defence in depth on the tree: no doctype/DTD in ``docinfo``, no ``etree.Entity`` node, depth ≤ ``MAX_DEPTH``;
4. bounds on what makes later tree work super-linear, checked before the tree is handed out (C14N sorts each element's
   attributes by insertion, cost ∝ attributes² per element, and re-checks the namespaces in scope at every element,
   cost ∝ elements × namespaces²: 25k attributes on one element took 0.9 s, 256 prefixes on a root with 20k children
   5.5 s): at most ``MAX_ATTRIBUTES`` attributes per element, ``MAX_NAMESPACES`` distinct namespace prefixes declared
   in the whole document (which bounds both the declarations per element and the namespaces in scope), and
   ``MAX_ELEMENTS`` elements. The largest kit examples have 10 attributes, 11 prefixes and 6,900 elements.

Errors are ``ValueError`` subclasses carrying a short ``reason`` (libxml2's message, which names constructs, never
the document's text; bytes it may quote are cut) plus ``line``/``column``; callers map them to THEIR Problem::

    XmlError(ValueError)
    ├── UnsafeXmlError          DOCTYPE / DTD / entity reference
    └── MalformedXmlError       not well-formed, unsupported encoding, empty
        └── XmlLimitError       a resource limit (depth, text node, name length, attributes, namespaces, elements)
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from lxml import etree

# libxml2's own nesting limit without XML_PARSE_HUGE; kept when large_text lifts libxml2's limits (it would be 2048)
MAX_DEPTH = 256
_DEPTH_PROBE = "boolean(" + "/*" * (MAX_DEPTH + 1) + ")"
_LIMIT_CODES = frozenset({110, 114})  # XML_ERR_NAME_TOO_LONG, XML_ERR_RESOURCE_LIMIT
_QUOTED_BYTES = re.compile(r"\s*Bytes:(\s*0x[0-9A-Fa-f]{2})+")  # older libxml2 quote undecodable input bytes
_COMMENT_TEXT = re.compile(r":?\s*<!--.*", re.S)  # libxml2 quotes up to 50 chars of a broken comment
_HUGE_HINT = re.compile(r",?\s*(use|try) XML_PARSE_HUGE( option)?")  # libxml2's advice to its developers, not ours
_MAX_REASON = 300
MAX_ATTRIBUTES = 64  # per element
MAX_NAMESPACES = 32  # distinct namespace prefixes declared in one document (the default namespace counts as one)
MAX_ELEMENTS = 100_000
_ASCII_ENCODINGS = re.compile(r"(utf-?8|(us-)?ascii|iso-?8859-\d+|latin-?\d|windows-125\d|cp125\d)", re.I)


class XmlError(ValueError):
    """Inbound XML refused. ``reason`` never contains the document's text."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if column is not None else f" (line {line})" if line else ""
        super().__init__(reason + where)
        self.reason = reason
        self.line = line
        self.column = column


class UnsafeXmlError(XmlError):
    """A DOCTYPE (internal or external DTD) or an entity reference: refused before anything is resolved."""


class MalformedXmlError(XmlError):
    """Not well-formed XML (or an encoding libxml2 cannot decode)."""


class XmlLimitError(MalformedXmlError):
    """A resource limit was hit: nesting deeper than MAX_DEPTH, a text node or attribute over 10 MB, a huge name,
    more than MAX_ATTRIBUTES on an element, MAX_NAMESPACES prefixes or MAX_ELEMENTS elements in the document."""


def parser(*, large_text: bool = False) -> etree.XMLParser:
    """A new hardened parser (one per call: an lxml parser serialises concurrent use, and resolvers mutate it).

    Only for :func:`parse`, for signxml's ``parser=`` and for trusted local files (kit schemas) that need resolvers;
    it does not refuse a DOCTYPE by itself.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=large_text,
        remove_comments=False,  # C14N with comments (lot signature manifest) digests them
        remove_pis=False,
    )


def parse(data: bytes, *, large_text: bool = False) -> etree._Element:
    """Parse inbound XML bytes and return the root element.

    ``large_text=True`` lifts libxml2's 10 MB text-node limit (an N1 CDA carries its PDF as one base64 text node:
    a 10 MiB PDF is 14 MB of base64). Use it only where the caller has already bounded the total size; the DOCTYPE
    refusal and the depth limit stay.

    Raises UnsafeXmlError (DOCTYPE, DTD, entity), MalformedXmlError / XmlLimitError.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"xmldoc.parse takes bytes, not {type(data).__name__} (the encoding is the document's)")
    _refuse_doctype(data)
    try:
        root = etree.fromstring(data, parser(large_text=large_text))
    except etree.XMLSyntaxError as exc:
        _raise_syntax(exc)
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXmlError("a DOCTYPE (DTD) is not allowed")
    if next(root.iter(etree.Entity), None) is not None:
        raise UnsafeXmlError("an entity reference is not allowed")
    if large_text and root.xpath(_DEPTH_PROBE):
        raise XmlLimitError(f"elements are nested deeper than {MAX_DEPTH} levels")
    _check_complexity(data, root)
    return root


def parse_own(data: bytes, *, large_text: bool = False) -> etree._Element:
    """Parse XML this process wrote itself: the outbox's SubmitObjectsRequest (re-read for every attempt), a CDA our
    templates rendered (every value in it went through the autoescape: no markup, no DOCTYPE; its elements carry the
    templates' few attributes and namespaces). The same hardened parser, the DOCTYPE and entity refusals after the
    parse, the depth limit under ``large_text``, but neither the prolog probe nor the size bounds of :func:`parse`,
    which are there for what a client or the DMP sends (together they doubled the parse time of a CDA). Never for
    inbound bytes."""
    try:
        root = etree.fromstring(data, parser(large_text=large_text))
    except etree.XMLSyntaxError as exc:
        _raise_syntax(exc)
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or next(root.iter(etree.Entity), None) is not None:
        raise UnsafeXmlError("a DOCTYPE (DTD) or an entity reference is not allowed")
    if large_text and root.xpath(_DEPTH_PROBE):
        raise XmlLimitError(f"elements are nested deeper than {MAX_DEPTH} levels")
    return root


def _check_complexity(data: bytes, root: etree._Element) -> None:
    """The bounds of item 4 of the module docstring; each check is linear and stops early (libxml2 XPath in C, a
    byte count, or a walk that yields only namespace declarations)."""
    elements = int(root.xpath("count(//*)"))
    if elements > MAX_ELEMENTS:
        raise XmlLimitError(f"the document has {elements} elements; the limit is {MAX_ELEMENTS}")
    crowded = root.xpath(f"(//*[@*[{MAX_ATTRIBUTES + 1}]])[1]")  # a positional step: libxml2 stops at the 65th
    if isinstance(crowded, list) and crowded and isinstance(crowded[0], etree._Element):
        element = crowded[0]
        raise XmlLimitError(
            f"an element has {len(element.attrib)} attributes; the limit is {MAX_ATTRIBUTES} per element",
            element.sourceline,
        )
    if _ascii_compatible(data, root) and data.count(b"xmlns") <= MAX_NAMESPACES:
        return  # fewer declarations than the limit, whatever their prefixes: no walk needed (the common case)
    prefixes: set[str] = set()
    for _event, (prefix, _uri) in etree.iterwalk(root, events=("start-ns",)):
        prefixes.add(prefix)
        if len(prefixes) > MAX_NAMESPACES:
            raise XmlLimitError(
                f"the document declares more than {MAX_NAMESPACES} namespace prefixes; "
                f"the limit is {MAX_NAMESPACES} per document"
            )


def _ascii_compatible(data: bytes, root: etree._Element) -> bool:
    """True when ``xmlns`` is spelt as those ASCII bytes in ``data`` (no NUL near the start rules out UTF-16/32; the
    declared encoding is one of the ASCII supersets), so counting the bytes bounds the declarations."""
    return b"\x00" not in data[:4] and bool(_ASCII_ENCODINGS.fullmatch(root.getroottree().docinfo.encoding or ""))


class _DoctypeFound(Exception):
    pass


class _RootReached(Exception):
    pass


class _PrologProbe:
    """Parser target: libxml2 calls ``doctype`` on ``<!DOCTYPE name ...`` before reading its internal subset, and
    ``start`` on the root element; both stop the parse (lxml stops libxml2 when a target callback raises)."""

    def doctype(self, name: Any, pubid: Any, system: Any) -> None:
        raise _DoctypeFound

    def start(self, tag: Any, attrib: Any, nsmap: Any = None) -> None:
        raise _RootReached

    def end(self, tag: Any) -> None:
        return None

    def data(self, data: Any) -> None:
        return None

    def close(self) -> None:
        return None


def _refuse_doctype(data: bytes) -> None:
    probe = etree.XMLParser(
        target=_PrologProbe(), resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        etree.fromstring(data, probe)
    except _DoctypeFound:
        raise UnsafeXmlError("a DOCTYPE (DTD) is not allowed") from None
    except _RootReached:
        return
    except etree.XMLSyntaxError as exc:
        _raise_syntax(exc)


def _raise_syntax(exc: etree.XMLSyntaxError) -> NoReturn:
    msg = str(exc.msg or "not well-formed")
    msg = re.sub(r"\s*,?\s*line \d+, column \d+\s*$", "", msg)  # line/column are carried as attributes
    for quoted in (_COMMENT_TEXT, _QUOTED_BYTES, _HUGE_HINT):
        msg = quoted.sub("", msg)
    msg = " ".join(msg.split())[:_MAX_REASON]
    line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None
    column = exc.offset if isinstance(exc.offset, int) and line is not None else None
    if exc.code in _LIMIT_CODES:
        if msg.startswith("Excessive depth"):  # libxml2 says 2048 under large_text; our limit is MAX_DEPTH anyway
            msg = f"elements are nested deeper than {MAX_DEPTH} levels"
        raise XmlLimitError(msg, line, column) from None
    if exc.code == 26 or "DOCTYPE" in msg:  # XML_ERR_UNDECLARED_ENTITY: a reference to an entity we never define
        raise UnsafeXmlError(msg, line, column) from None
    raise MalformedXmlError(msg, line, column) from None


__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "MAX_NAMESPACES",
    "MalformedXmlError",
    "UnsafeXmlError",
    "XmlError",
    "XmlLimitError",
    "parse",
    "parse_own",
    "parser",
]
