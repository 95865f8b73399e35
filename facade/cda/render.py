"""ClinicalDocument -> CDA R2 bytes: Jinja template, then one safe parse, then the ANS XSD when a schema is given.

The bytes returned are exactly what is sent (the XDS hash and size are computed on them): nothing reformats them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import jinja2
from lxml import etree

from facade import xmldoc
from facade.cda.canonical import CanonicalDocument, CanonicalXml, canonical_form
from facade.cda.deferred import deferred_base64
from facade.cda.environment import create_environment
from facade.cda.validation import CDA_NS, CdaSchema, CdaSchemaError
from facade.errors import DocumentBuildError, Issue, Problem, RequestError
from facade.model.document import ClinicalDocument

DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates" / "cda"  # shipped in the package


class CdaRenderer:
    """Thread-safe once built (the Jinja environment and compiled templates are read-only)."""

    def __init__(self, templates_dir: Path, schema: CdaSchema | None = None) -> None:
        self._env = create_environment(templates_dir)
        self._schema = schema

    def template_name(self, doc: ClinicalDocument) -> str:
        return f"{doc.template}/document.xml.j2"

    def render_canonical(self, doc: ClinicalDocument) -> CanonicalDocument:
        """The canonical document (the bytes sent) from one render and one parse. Large base64 content is spliced
        into the canonical bytes after the checks (facade.cda.deferred): the tree carries a marker in its place."""
        with deferred_base64() as deferred:
            _, tree = self.render_tree(doc)
        canonical = canonical_form(tree)
        if not deferred:
            return canonical
        try:
            return replace(canonical, cda=CanonicalXml(deferred.splice(canonical.cda)))
        except ValueError as exc:
            raise DocumentBuildError(
                Problem.TEMPLATE_RENDER, template=self.template_name(doc), reason=str(exc)
            ) from exc

    def render(self, doc: ClinicalDocument) -> bytes:
        """UTF-8 CDA, as rendered (or supplied): see ``render_tree``."""
        return self.render_tree(doc)[0]

    def render_tree(self, doc: ClinicalDocument) -> tuple[bytes, etree._ElementTree]:
        """UTF-8 CDA and its only parse (the pipeline canonicalises and XSD-checks that tree).

        Raises DocumentBuildError (TEMPLATE_RENDER) for template failures or ill-formed output, CdaSchemaError
        (CDA_NOT_SCHEMA_VALID) when the output fails the XSD. A passthrough document (the CDA was supplied) is
        returned byte for byte after the same checks; its failures are the caller's (CDA_INPUT_INVALID)."""
        if doc.passthrough is not None:
            return doc.passthrough, self._check_passthrough(doc.passthrough)
        name = self.template_name(doc)
        try:
            text = self._env.get_template(name).render(doc=doc)
        except jinja2.TemplateError as exc:
            where = f"{name}:{exc.lineno}" if isinstance(exc, jinja2.TemplateSyntaxError) else name
            raise DocumentBuildError(Problem.TEMPLATE_RENDER, template=where, reason=str(exc)) from exc
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # model value a filter cannot render
            raise DocumentBuildError(Problem.TEMPLATE_RENDER, template=name, reason=repr(exc)) from exc
        data = text.encode("utf-8")
        del text  # an N1's PDF is in it as base64: one copy less alive during the parse
        try:  # large_text: an N1 carries its document as one base64 text node (a 10 MiB PDF is 14 MB of text)
            tree = xmldoc.parse_own(data, large_text=True).getroottree()  # our templates' output, escaped
        except xmldoc.XmlError as exc:
            raise DocumentBuildError(
                Problem.TEMPLATE_RENDER, template=name, reason=f"output is not well-formed XML: {exc}"
            ) from exc
        if self._schema is not None:
            self._schema.check(tree)
        return data, tree

    def _check_passthrough(self, data: bytes) -> etree._ElementTree:
        try:  # the caller bounded the size (max_document_bytes) before decoding
            tree = xmldoc.parse(data, large_text=True).getroottree()
        except xmldoc.UnsafeXmlError as exc:
            raise RequestError(Problem.XML_FORBIDDEN_CONSTRUCT, reason=str(exc)) from exc
        except xmldoc.XmlLimitError as exc:
            raise RequestError(Problem.XML_LIMIT, reason=str(exc)) from exc
        except xmldoc.MalformedXmlError as exc:
            raise RequestError(Problem.CDA_INPUT_INVALID, reason=f"not well-formed: {exc}") from exc
        if self._schema is not None:
            try:  # an auto-presentable CDA: the ClinicalDocument embedded in the XSLT is what the XSD checks
                self._schema.check(next(tree.getroot().iter(f"{{{CDA_NS}}}ClinicalDocument"), tree.getroot()))
            except CdaSchemaError as exc:
                issues = [Issue(Problem.CDA_INPUT_INVALID, None, dict(i.details)) for i in exc.issues]
                raise RequestError(Problem.CDA_INPUT_INVALID, issues=issues) from exc
        return tree


__all__ = ["DEFAULT_TEMPLATES_DIR", "CdaRenderer"]
