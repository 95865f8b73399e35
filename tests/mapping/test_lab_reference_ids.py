"""An order number with HL7 v2 separators: kept in the CDA, never sent as a broken referenceIdList CXi.

Regression: the derived CR-BIO (lab bundle without DocumentReference) built the CXi without the ``sendable`` check
the DocumentReference path applies, so ``2024^0001`` produced ``2024^0001^^^&root&ISO^...order``."""

from __future__ import annotations

from typing import Any

import pytest

from facade.model.document import InstanceId

from .conftest import CONFORMANCE, Run, load

ORDER = "urn:ihe:iti:xds:2013:order"
ORDER_ROOT = "1.2.250.1.213.1.1.9"  # the ServiceRequest identifier system of the cr-bio examples


def _with_order_number(name: str, number: str) -> dict[str, Any]:
    bundle = load(CONFORMANCE / "cr-bio" / f"{name}.json")
    requests = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ServiceRequest"]
    assert requests, f"{name} has a ServiceRequest"
    for sr in requests:
        for ident in [*sr.get("identifier", []), sr.get("requisition") or {}]:
            if ident.get("value"):
                ident["value"] = number
    return bundle


@pytest.mark.parametrize("name", ["glycemie", "pdf-copy"])  # derived document / DocumentReference 11502-2
def test_order_number_with_a_separator_stays_out_of_reference_id_list(run: Run, name: str) -> None:
    (request,) = run(_with_order_number(name, "2024^0001")).submission.documents
    assert InstanceId(ORDER_ROOT, "2024^0001") in request.document.order_ids  # CDA inFulfillmentOf/order/id
    assert not any("2024^0001" in value for value in request.reference_ids)


@pytest.mark.parametrize("name", ["glycemie", "pdf-copy"])
def test_plain_order_number_is_sent_as_a_cxi(run: Run, name: str) -> None:
    (request,) = run(_with_order_number(name, "2024-0001")).submission.documents
    assert f"2024-0001^^^&{ORDER_ROOT}&ISO^{ORDER}" in request.reference_ids
