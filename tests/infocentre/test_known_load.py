"""Issue 13: a known load posted through the real facade to the simulator over mutual TLS (delivered, masked,
refused by the facade, rejected by the DMP, retrying, replaced), then each indicator read back from
/infocentre.json and /infocentre.csv and compared with what was sent."""

from __future__ import annotations

import csv
import io
import json
import ssl
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
import pytest

from facade.pki import TestPki
from tests.e2e.conftest import FACILITY, Facade
from tests.infocentre.load import (
    CONSULTATION,
    LETTER,
    MASQUE_PS,
    NORMAL,
    OPERATIVE,
    body,
    copy_of,
    replacing,
    with_bad_ins,
)

SITE = FACILITY.finess_eg
LDL, CRO, CONS = "11490-0", "34874-8", "11488-4"


def script(pki: TestPki, simulator_base: str, *queue: str) -> None:
    """The simulator's next answers, through its admin endpoint (mutual TLS, the ORG AUTH certificate)."""
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.load_cert_chain(str(pki.auth_cert), str(pki.auth_key))
    with httpx.Client(verify=ctx, timeout=10) as client:
        r = client.post(f"{simulator_base}/_simulator/script", json={"queue": list(queue)})
    assert r.status_code == 200, r.text


def post_known_load(
    post: Callable[[bytes], int], script: Callable[..., None], *, retrying: bool = True
) -> dict[str, int]:
    """Posts the load (``post`` answers the HTTP status) and returns the statuses by label; ``retrying``: with a
    submission the DMP answers busy (left retrying: only where no background relay delivers it meanwhile)."""
    statuses = {}
    sent = [
        ("letter-1", copy_of(LETTER, 1), ()),
        ("letter-2", copy_of(LETTER, 2), ()),
        ("letter-masked", copy_of(LETTER, 3, labels=(NORMAL, MASQUE_PS)), ()),
        ("operative", copy_of(OPERATIVE, 4), ()),
        ("consultation", copy_of(CONSULTATION, 10), ()),
        ("metadata-error", copy_of(CONSULTATION, 5), ("metadata-error",)),
        ("unknown-patient", copy_of(CONSULTATION, 6), ("unknown-patient",)),
        ("busy", copy_of(CONSULTATION, 7), ("busy",)),
        ("bad-ins-1", with_bad_ins(copy_of(LETTER, 8)), ()),
        ("bad-ins-2", with_bad_ins(copy_of(LETTER, 11)), ()),
        ("replacement", replacing(copy_of(LETTER, 9), "1.2.250.1.999.1.1.77.1"), ()),
    ]
    for label, bundle, queue in sent:
        if label == "busy" and not retrying:
            continue
        if queue:
            script(*queue)
        statuses[label] = post(body(bundle))
    return statuses


EXPECTED = {  # (site, type) -> indicator -> value, over the whole range
    (SITE, LDL): {"accepted": 4, "delivered": 4, "in_progress": 0, "refused": 2, "dmp_rejected": 0, "dead": 0,
                  "replacements": 1, "replaced": 1, "masked": 1, "invisible": 0, "deleted": 0},
    (SITE, CRO): {"accepted": 1, "delivered": 1, "in_progress": 0, "refused": 0, "dmp_rejected": 0, "dead": 0,
                  "replacements": 0, "replaced": 0, "masked": 0, "invisible": 0, "deleted": 0},
    (SITE, CONS): {"accepted": 4, "delivered": 1, "in_progress": 1, "refused": 0, "dmp_rejected": 2, "dead": 2,
                   "replacements": 0, "replaced": 0, "masked": 0, "invisible": 0, "deleted": 0},
}  # fmt: skip


@pytest.fixture()
def loaded(facade: Facade, e2e_pki: TestPki) -> Facade:
    statuses = post_known_load(
        lambda b: facade.post(b).status_code, partial(script, e2e_pki, facade.simulator.base_url)
    )
    assert statuses == {
        "letter-1": 200, "letter-2": 200, "letter-masked": 200, "operative": 200, "consultation": 200,
        "metadata-error": 422, "unknown-patient": 422, "busy": 202, "bad-ins-1": 422, "bad-ins-2": 422,
        "replacement": 200,
    }, statuses  # fmt: skip
    return facade


def test_json_gives_each_indicator_as_sent(loaded: Facade) -> None:
    r = loaded.client.get("/infocentre.json")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    totals = {(t["site"], t["type_code"]): t for t in data["totals"]}
    assert set(totals) == set(EXPECTED)
    for key, expected in EXPECTED.items():
        assert {k: totals[key][k] for k in expected} == expected, key
    assert [totals[(SITE, t)]["discharge"] for t in (LDL, CRO, CONS)] == [True, True, False]
    for key in ((SITE, LDL), (SITE, CRO), (SITE, CONS)):
        row = totals[key]
        assert 0 <= row["delay_delivery_p50_s"] <= row["delay_delivery_p90_s"]
        assert 0 < row["delay_document_p50_s"] <= row["delay_document_p90_s"]  # the bundles' documents are older
    causes = {(c["source"], c["type_code"], c["code"]): c["count"] for c in data["causes"]}
    refusal = next(code for (source, _, code) in causes if source == "facade")
    assert causes == {
        ("facade", LDL, refusal): 2,
        ("dmp", CONS, "XDSRegistryMetadataError"): 1,
        ("dmp", CONS, "XDSUnknownPatientId"): 1,
    }
    whole = [s for s in data["discharge_share"] if s["period"] == "all"]
    assert whole == [{"period": "all", "site": SITE, "delivered": 6, "discharge_delivered": 5, "share": 5 / 6}]
    # the periods add up to the whole range (a run across midnight UTC splits them)
    for key, expected in EXPECTED.items():
        rows = [r for r in data["rows"] if (r["site"], r["type_code"]) == key]
        assert sum(r["accepted"] for r in rows) == expected["accepted"]


def test_csv_gives_the_same_values_in_long_form(loaded: Facade) -> None:
    r = loaded.client.get("/infocentre.csv", params={"period": "month"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    lines = list(csv.DictReader(io.StringIO(r.text)))
    assert list(lines[0]) == ["period", "site", "type_code", "type_display", "indicator", "code", "value"]
    whole = {(x["site"], x["type_code"], x["indicator"], x["code"]): x["value"] for x in lines if x["period"] == "all"}
    for (site, doc_type), expected in EXPECTED.items():
        for indicator, value in expected.items():
            assert whole[(site, doc_type, indicator, "")] == str(value), (doc_type, indicator)
    assert whole[(SITE, CONS, "dmp_rejected", "XDSRegistryMetadataError")] == "1"
    assert whole[(SITE, CONS, "dmp_rejected", "XDSUnknownPatientId")] == "1"
    assert whole[(SITE, "", "discharge_share", "")] == str(round(5 / 6, 4))
    display = {x["type_code"]: x["type_display"] for x in lines}
    assert display[LDL] == "Lettre de liaison à la sortie d'un établissement de soins"


def test_a_week_before_the_load_is_empty_and_a_bad_range_is_an_operation_outcome(loaded: Facade) -> None:
    empty = loaded.client.get("/infocentre.json", params={"from": "2020-01-01", "to": "2020-01-07"}).json()
    assert empty["rows"] == [] and empty["totals"] == [] and empty["causes"] == []
    for params, expression in (
        ({"period": "year"}, "period"),
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"from": "2000-01-01", "to": "2026-01-01", "period": "day"}, "from"),
        ({"delay_from": "tomorrow"}, "delay_from"),
    ):
        for path in ("/infocentre", "/infocentre.csv", "/infocentre.json"):
            r = loaded.client.get(path, params=params)
            assert r.status_code == 422, (path, params, r.text)
            outcome = r.json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert outcome["issue"][0]["expression"] == [expression]


def _patch(facade: Facade, unique_id: str, ops: list[dict[str, Any]]) -> None:
    r = facade.client.patch(
        "/fhir/DocumentReference", params={"identifier": f"urn:ietf:rfc:3986|urn:oid:{unique_id}"},
        content=json.dumps(ops).encode(), headers={"Content-Type": "application/json-patch+json"},
    )  # fmt: skip
    assert r.status_code == 200, r.text


def test_a_mask_and_a_delete_through_patch_move_the_indicators(loaded: Facade) -> None:
    """ITI-57 through PATCH (the e2e facade runs the demo's AIR mode): the operative report masked, a letter masked
    then deleted. The registry follows the DMP's answers, so the operative report counts as masked and the letter as
    deleted only (it is no longer in the DMP for anyone to see masked)."""
    mask = [
        {"op": "add", "path": "/securityLabel/-", "value": {"coding": [{"system": MASQUE_PS[0], "code": MASQUE_PS[1]}]}}
    ]
    _patch(loaded, "1.2.250.1.999.1.1.77.4", mask)
    _patch(loaded, "1.2.250.1.999.1.1.77.2", mask)
    _patch(loaded, "1.2.250.1.999.1.1.77.2", [{"op": "replace", "path": "/status", "value": "entered-in-error"}])

    expected = {key: dict(values) for key, values in EXPECTED.items()}
    expected[(SITE, CRO)]["masked"] = 1
    expected[(SITE, LDL)]["deleted"] = 1  # its masked stays 1: letter-masked, not the deleted letter
    totals = {(t["site"], t["type_code"]): t for t in loaded.client.get("/infocentre.json").json()["totals"]}
    for key, values in expected.items():
        assert {k: totals[key][k] for k in values} == values, key
    lines = csv.DictReader(io.StringIO(loaded.client.get("/infocentre.csv").text))
    whole = {
        (x["site"], x["type_code"], x["indicator"]): x["value"] for x in lines if x["period"] == "all" and not x["code"]
    }
    for (site, doc_type), values in expected.items():
        for indicator in ("masked", "invisible", "deleted", "delivered"):
            assert whole[(site, doc_type, indicator)] == str(values[indicator]), (doc_type, indicator)
