"""Checks of the XML we produce: the ANS CDA XSD at runtime, the full kit (XSD + schematrons) on demand.

``CdaSchema`` compiles ``<kit>/schemas/cda/CDA_extended.xsd`` once (≈40 ms) and validates in ≈0.3 ms: it is on the
hot path of every render. ``FullValidator`` runs the kit's own ``validate.py`` (imported by path, never copied):
the structuration-minimale schematron plus the volet's, compiled once per process (seconds, ≈1 GB with Saxon) and
≈70 ms per document, so it belongs to $preview, tests and the conformance suite, not to every submission.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from lxml import etree

from facade import xmldoc
from facade.errors import DocumentBuildError, Issue, Problem

CDA_NS = "urn:hl7-org:v3"
CDA_XSD = Path("schemas/cda/CDA_extended.xsd")


class CdaSchemaError(DocumentBuildError):
    """A rendered CDA fails the ANS XSD (our bug: 500)."""


class _OfflineResolver(etree.Resolver):  # type: ignore[misc]
    """Schemas importing the W3C xml.xsd get the kit's local copy (no network; stack-notes §5)."""

    def __init__(self, kit: Path) -> None:
        super().__init__()
        self._local = kit / "schemas/cda/schema/xml.xsd"

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        if system_url in ("http://www.w3.org/2001/xml.xsd", "http://www.w3.org/2001/03/xml.xsd"):
            return self.resolve_filename(str(self._local), context)
        return None


def load_schema(kit: Path, relative: Path | str) -> etree.XMLSchema:
    """Compile an XSD from the kit, offline. Kit files are local and reviewed, not inbound: the hardened parser is used
    but a DOCTYPE is tolerated (the W3C XMLSchema.xsd carries one; its DTD is not loaded)."""
    parser = xmldoc.parser()
    parser.resolvers.add(_OfflineResolver(kit))
    return etree.XMLSchema(etree.parse(str(kit / relative), parser))


class XmlSchema:
    """A compiled XSD, shared between threads (lxml keeps the error log on the schema object: validation is
    serialised by a lock; it costs well under a millisecond)."""

    def __init__(self, schema: etree.XMLSchema, name: str, lock: threading.Lock | None = None) -> None:
        self._schema = schema
        self._lock = lock or threading.Lock()
        self.name = name

    def errors(self, tree: etree._ElementTree | etree._Element) -> list[tuple[int, str, str]]:
        """(line, message, path) of every XSD error; [] when valid."""
        with self._lock:
            if self._schema.validate(tree):
                return []
            return [(e.line, e.message, e.path or "") for e in self._schema.error_log]

    def issues(self, xml: bytes, artefact: str) -> list[Issue]:
        """XSD problems of ``xml`` as OUTPUT_XSD issues (parse errors included)."""
        try:
            tree = xmldoc.parse(xml, large_text=True).getroottree()  # an N1 CDA's base64 may exceed 10 MB
        except xmldoc.XmlError as exc:
            return [_unparsable(artefact, exc)]
        return self.tree_issues(tree, artefact)

    def tree_issues(
        self, tree: etree._ElementTree, artefact: str, line: Callable[[int], int] = lambda n: n
    ) -> list[Issue]:
        """XSD problems of an already parsed document; ``line`` maps its line numbers to the bytes reported on."""
        return [
            Issue(Problem.OUTPUT_XSD, None, {"artefact": artefact, "line": line(n), "reason": msg}, diagnostics=path)
            for n, msg, path in self.errors(tree)
        ]


def _unparsable(artefact: str, exc: xmldoc.XmlError) -> Issue:
    return Issue(Problem.OUTPUT_XSD, None, {"artefact": artefact, "line": exc.line or 1, "reason": exc.reason})


_schema_cache: dict[tuple[Path, str], XmlSchema] = {}
_schema_lock = threading.Lock()


def kit_schema(kit: Path, relative: Path | str) -> XmlSchema:
    """One compiled schema per (kit, file) per process."""
    key = (kit.resolve(), str(relative))
    with _schema_lock:
        if key not in _schema_cache:
            _schema_cache[key] = XmlSchema(load_schema(kit, relative), Path(relative).name)
        return _schema_cache[key]


class CdaSchema(XmlSchema):
    """lxml XMLSchema of ``<kit>/schemas/cda/CDA_extended.xsd``, compiled once per process."""

    @classmethod
    def from_kit(cls, kit: Path) -> CdaSchema:
        shared = kit_schema(kit, CDA_XSD)
        return cls(shared._schema, shared.name, shared._lock)  # one compiled schema (and its lock) per process

    def check(self, tree: etree._ElementTree | etree._Element, artefact: str = "CDA") -> None:
        """Raise CdaSchemaError (Problem.CDA_NOT_SCHEMA_VALID) listing every XSD error."""
        errors = self.errors(tree)
        if errors:
            issues = [
                Issue(Problem.CDA_NOT_SCHEMA_VALID, None, {"reason": f"line {line}: {msg}"}, diagnostics=path)
                for line, msg, path in errors
            ]
            raise CdaSchemaError(Problem.CDA_NOT_SCHEMA_VALID, issues=issues)


# --- full validation through the kit's validate.py ---

_kit_modules: dict[Path, tuple[ModuleType, Any]] = {}
_kit_lock = threading.Lock()


def _kit_validator(kit: Path) -> tuple[ModuleType, Any]:
    """The kit's validate.py module (imported from its path) and one Validator per kit per process."""
    key = kit.resolve()
    with _kit_lock:
        if key not in _kit_modules:
            script = key / "validate.py"
            if not script.is_file():
                raise FileNotFoundError(f"no validate.py in {key}")
            name = f"_facade_conformance_kit_{len(_kit_modules)}"
            spec = importlib.util.spec_from_file_location(name, script)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {script}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            _kit_modules[key] = (module, module.Validator())
        return _kit_modules[key]


class FullValidator:
    """XSD + schematrons (structuration minimale + the document type's volet) through the kit's validate.py.

    Findings become Issues: errors -> OUTPUT_SCHEMATRON, warnings -> OUTPUT_SCHEMATRON_WARNING, with the assert
    text as ``reason`` and the XPath location in ``diagnostics``. Thread-safe (one Saxon run at a time)."""

    def __init__(self, kit: Path, *, profiles: tuple[str, ...] = ("struct-min",)) -> None:
        self._module, self._validator = _kit_validator(kit)
        self._kit = kit.resolve()
        self._profiles = profiles
        self._lock = threading.Lock()

    def warm_up(self, doc_types: tuple[str, ...] = ()) -> None:
        """Compile the profiles' schematrons (structuration minimale) and the volets of ``doc_types`` (validate.py
        aliases, e.g. ``cr-bio``) now (seconds) rather than on the first document."""
        mod = self._module
        with self._lock:
            for p in self._profiles:
                self._validator._executable(mod.SCH_DIR / mod.PROFILES[p])
            for alias in doc_types:
                _alias, sch_rel = mod.resolve_type(alias)
                if sch_rel:
                    self._validator._executable(mod.SCH_DIR / sch_rel)

    def issues(self, xml: bytes, artefact: str, *, doc_type: str | None = None) -> list[Issue]:
        """Every problem of ``xml`` (a CDA, or an ebRIM/lcm/SOAP message: XSD only). ``doc_type`` forces the volet
        (validate.py alias, e.g. ``n1``, ``cr-bio``); default: detected from the templateIds."""
        mod = self._module
        try:
            tree = xmldoc.parse(xml, large_text=True).getroottree()
        except xmldoc.XmlError as exc:
            return [_unparsable(artefact, exc)]
        out: list[Issue] = []
        with self._lock:
            _key, xsd_errors = self._validator.validate_xsd(tree)
            for err in xsd_errors:
                line, _, reason = err.partition(": ") if err.startswith("line ") else ("", "", err)
                out.append(
                    Issue(
                        Problem.OUTPUT_XSD,
                        None,
                        {"artefact": artefact, "line": line.removeprefix("line ") or "?", "reason": reason},
                    )
                )
            cd = mod.cda_subtree(tree)
            if cd is None:
                return out
            alias = doc_type or mod.detect_type(cd)
            schematrons: list[tuple[str, Path]] = []
            if alias:
                _alias, sch_rel = mod.resolve_type(alias)
                if sch_rel:
                    schematrons.append((str(sch_rel), mod.SCH_DIR / sch_rel))
            for p in self._profiles:
                schematrons.append((Path(mod.PROFILES[p]).name, mod.SCH_DIR / mod.PROFILES[p]))
            text = etree.tostring(cd, encoding="unicode")
            for label, sch in schematrons:
                try:
                    findings, _fired, _svrl = self._validator.run_schematron(sch, text, "urn:facade:" + artefact)
                except Exception as exc:  # noqa: BLE001 - a schematron that cannot run is reported, not raised
                    out.append(
                        Issue(
                            Problem.OUTPUT_SCHEMATRON,
                            None,
                            {"artefact": artefact, "schematron": label, "reason": f"cannot run: {exc}"[:2000]},
                        )
                    )
                    continue
                for f in findings:
                    problem = Problem.OUTPUT_SCHEMATRON if f["error"] else Problem.OUTPUT_SCHEMATRON_WARNING
                    out.append(
                        Issue(
                            problem,
                            None,
                            {"artefact": artefact, "schematron": label, "reason": f["text"], "location": f["location"]},
                            diagnostics=f["location"],
                        )
                    )
        return out


__all__ = [
    "CdaSchema",
    "CdaSchemaError",
    "FullValidator",
    "XmlSchema",
    "kit_schema",
    "load_schema",
]
