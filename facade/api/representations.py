"""FHIR representations of our results: the $preview Parameters, and (for feeding) transaction-response bundles."""

from __future__ import annotations

import base64
from typing import Any

from lxml import etree

from facade.api.outcomes import operation_outcome
from facade.pipeline import Conversion


def preview_parameters(conversion: Conversion) -> dict[str, Any]:
    metadata = etree.tostring(conversion.metadata(), encoding="unicode")
    fullurls = {d.document.id: d.fhir_fullurl for d in conversion.mapping.submission.documents}
    parameters: list[dict[str, Any]] = []
    for doc in conversion.documents:
        uid = doc.request.document.id
        parts: list[dict[str, Any]] = []
        if fullurls.get(uid):
            parts.append({"name": "entry", "valueUri": fullurls[uid]})
        parts += [
            {"name": "uniqueId", "valueString": uid},
            {"name": "cda", "valueBase64Binary": base64.b64encode(doc.cda).decode("ascii")},
            {"name": "metadata", "valueString": metadata},
            {"name": "outcome", "resource": operation_outcome(conversion.by_document.get(uid, ()))},
        ]
        parameters.append({"name": "document", "part": parts})
    parameters.append({"name": "outcome", "resource": operation_outcome(conversion.all_issues())})
    return {"resourceType": "Parameters", "parameter": parameters}
