"""Which volet schematron, in which version, judges a ready-made CDA; and its checks as input issues (422).

Spec digest pdsm4dmp-lifecycle §1.6: the volet is the ANS model templateId (``1.2.250.1.213.1.1.1.<n>``, the most
specific one of a hierarchy), its version the templateId's ``@extension``. The kit (``validate.py`` ``TYPES``) knows
each volet's newest schematron; the older versions are the other ``CI-SIS_<VOLET>_<version>.sch`` files. A version
the kit has -> that schematron; an unknown one -> the first published version after it (else the newest); none ->
the newest that passes, newest first (CR-BIO 2021.01 examples name none). Either is said in an information issue.
An ANS model templateId the kit does not know -> CDA_VOLET_UNKNOWN. XSD-N1 documents and TLM-CR (detected by
code) follow ``validate.detect_type``. Schematrons compile lazily, once per process per file
(the kit's Validator caches them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from lxml import etree

from facade.cda.validation import CDA_NS, FullValidator, XmlSchema
from facade.errors import Issue, Problem

ANS_MODEL_ARC = "1.2.250.1.213.1.1.1."
STRUCTURATION_MINIMALE = "1.2.250.1.213.1.1.1.1"


@dataclass(frozen=True)
class Volet:
    """The schematrons to try, in order (the first one that passes wins), and what to tell the sender."""

    name: str
    candidates: tuple[str, ...]  # schematron file names under the kit's schematrons/
    template_id: str | None
    version: str | None  # the templateId @extension, as written
    note: str | None = None  # why a fallback was used


def _split(file_name: str) -> tuple[str, str]:
    """``CI-SIS_BIO-CR-BIO_2024.01.sch`` -> (``BIO-CR-BIO``, ``2024.01``)."""
    stem = file_name.removeprefix("CI-SIS_").removesuffix(".sch")
    volet, _, version = stem.rpartition("_")
    return volet, version


def _versions(kit: ModuleType, volet: str) -> list[tuple[str, str]]:
    """(version, file) of every schematron of ``volet`` in the kit, newest first."""
    out = []
    for path in Path(kit.SCH_DIR).glob(f"CI-SIS_{volet}_*.sch"):
        name, version = _split(path.name)
        if name == volet:
            out.append((version, path.name))
    return sorted(out, reverse=True)


def pick_volet(cd: etree._Element, kit: ModuleType) -> Volet | None:
    """The volet of a ClinicalDocument (None: structuration minimale only, e.g. an N1 document). Raises LookupError
    (the unknown model templateId) when the document names an ANS model the kit does not know."""
    templates = [(str(t.get("root") or ""), t.get("extension")) for t in cd.findall(f"{{{CDA_NS}}}templateId")]
    known: dict[str, str] = {}
    for _alias, (sch, roots) in kit.TYPES.items():
        for root in roots:
            if sch:
                known.setdefault(root, sch)
    ans = [(r, e) for r, e in templates if r.startswith(ANS_MODEL_ARC) and r != STRUCTURATION_MINIMALE]
    matched = sorted(((r, e) for r, e in ans if r in known), key=lambda t: len(t[0]), reverse=True)
    if not matched:
        alias = kit.detect_type(cd)
        if alias in (None, "n1", "none"):
            if ans:
                raise LookupError(ans[0][0])
            return None
        _name, sch = kit.resolve_type(alias)
        return Volet(_split(sch)[0], (sch,), None, None) if sch else None
    root, version = matched[0]
    volet = _split(known[root])[0]
    available = _versions(kit, volet)
    exact = [f for v, f in available if v == version]
    if exact:
        return Volet(volet, tuple(exact), root, version)
    if version:  # a version the kit has no schematron for: the first published one after it (else the newest)
        later = [(v, f) for v, f in available if v > version]
        v, f = later[-1] if later else available[0]
        note = f"templateId {root} names version {version}, which has no {volet} schematron: validated against {v}"
        return Volet(volet, (f,), root, version, note)
    note = (
        f"templateId {root} names no version: validated against the newest {volet} schematron that passes "
        f"({', '.join(v for v, _ in available)} tried in that order)"
    )
    return Volet(volet, tuple(f for _, f in available), root, None, note)


def supplied_cda_issues(data: bytes, where: str, schema: XmlSchema | None, full: FullValidator | None) -> list[Issue]:
    """Every problem of a ready-made CDA, as issues about the request (errors are 422s at ``where``, the FHIRPath
    of the attachment; the XPath inside the CDA is the issue's diagnostics)."""
    artefact = "supplied CDA"
    if full is None:
        base = schema.issues(data, artefact) if schema is not None else []
        return [_as_input(i, where) for i in base]
    from facade import xmldoc

    tree = xmldoc.parse(data, large_text=True).getroottree()  # parsed before (content): well-formed and safe
    cd = next(tree.getroot().iter(f"{{{CDA_NS}}}ClinicalDocument"), None)
    if cd is None:
        return [Issue(Problem.CDA_INPUT_INVALID, where, {"reason": "no ClinicalDocument"})]
    try:
        volet = pick_volet(cd, full._module)  # the kit's validate.py, loaded once
    except LookupError as exc:
        return [Issue(Problem.CDA_VOLET_UNKNOWN, where, {"template": str(exc)}, diagnostics="templateId/@root")]
    if volet is None:
        return [_as_input(i, where) for i in full.issues(data, artefact, doc_type="none")]
    failures: list[Issue] = []
    for sch in volet.candidates:
        issues = [_as_input(i, where, sch) for i in full.issues(data, artefact, doc_type=sch)]
        if not any(i.is_error for i in issues):
            note = volet.note.replace("that passes", f"that passes: {sch}") if volet.note else None
            info = [Issue(Problem.INFORMATION, where, {"text": note}, severity="information")] if note else []
            return info + issues
        failures = failures or issues  # the newest version's findings explain the refusal
    return failures


def _as_input(issue: Issue, where: str, schematron: str | None = None) -> Issue:
    if not issue.is_error:
        return Issue(issue.problem, where, dict(issue.details), diagnostics=issue.diagnostics, severity="warning")
    if issue.problem is Problem.OUTPUT_SCHEMATRON:
        details = {"schematron": issue.details.get("schematron", schematron), "reason": issue.details.get("reason")}
        return Issue(Problem.CDA_SCHEMATRON_FAILED, where, details, diagnostics=issue.diagnostics)
    return Issue(Problem.CDA_INPUT_INVALID, where, {"reason": issue.message}, diagnostics=issue.diagnostics)


__all__ = ["Volet", "pick_volet", "supplied_cda_issues"]
