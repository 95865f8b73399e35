"""Issue 14 item 1: a supplied CDA that makes canonicalisation super-linear (tens of thousands of attributes or
namespace declarations on one element) is refused by the hardened parser before any tree work, through the real
API path, with a 422 naming the limit (the tester's 50k-xmlns CDA took 16 s of C14N per request)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from facade import xmldoc
from facade.app import create_app
from facade.cli import demo_settings
from facade.pki import init_test_pki
from facade.settings import PROJECT_ROOT, Settings

BUNDLE = PROJECT_ROOT / "conformance/bundles/ldl-ses/pdf-discharge-letter.json"
VALID_CDA = PROJECT_ROOT / "conformance/expected/ldl-ses/pdf-discharge-letter/1.cda.xml"
DEAD_DMP = "https://127.0.0.1:9/si-dmp-server/v2/services/repository"
JSON = {"content-type": "application/fhir+json"}


def bundle_with_cda(cda: bytes) -> bytes:
    """The PDF discharge letter bundle carrying ``cda`` as a supplied CDA (passed through, not re-wrapped)."""
    bundle = json.loads(BUNDLE.read_text(encoding="utf-8"))
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "DocumentReference":
            attachment = resource["content"][0]["attachment"]
            attachment.update(
                contentType="application/hl7-cda+xml",
                size=len(cda),
                hash=base64.b64encode(hashlib.sha1(cda).digest()).decode(),  # noqa: S324 (FHIR attachment hash)
            )
            resource["content"][0].pop("format", None)
        if resource["resourceType"] == "Binary":
            resource.update(contentType="application/hl7-cda+xml", data=base64.b64encode(cda).decode())
    return json.dumps(bundle).encode()


def _on_root(extra: str) -> bytes:
    cda = VALID_CDA.read_bytes()
    return cda.replace(b"<ClinicalDocument ", b"<ClinicalDocument " + extra.encode() + b" ", 1)


ATTACKS: dict[str, tuple[Callable[[], bytes], str]] = {
    "25k attributes": (lambda: _on_root(" ".join(f'a{i}="x"' for i in range(25_000))), "64 per element"),
    "50k xmlns": (lambda: _on_root(" ".join(f'xmlns:p{i}="urn:x:{i}"' for i in range(50_000))), "namespace"),
    "many namespaces in scope": (
        lambda: _on_root(" ".join(f'xmlns:p{i}="urn:x:{i}"' for i in range(200))),
        "namespace prefixes",
    ),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """The real app with sending configured (nothing listens at the DMP address: a refused bundle never gets there)."""
    base = tmp_path_factory.mktemp("xml-limits")
    s = demo_settings(base / "state", DEAD_DMP, init_test_pki(base / "pki", structure_id="1120456789"))
    assert isinstance(s, Settings)
    s.outbox.relay = False
    return TestClient(create_app(s), raise_server_exceptions=False)


def test_the_unmodified_supplied_cda_is_accepted(client: TestClient) -> None:
    r = client.post("/fhir/Bundle/$preview", content=bundle_with_cda(VALID_CDA.read_bytes()), headers=JSON)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("endpoint", ["/fhir/Bundle/$preview", "/fhir"])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_cda_crowding_one_element_is_a_422_naming_the_limit(client: TestClient, attack: str, endpoint: str) -> None:
    build, limit_words = ATTACKS[attack]
    r = client.post(endpoint, content=bundle_with_cda(build()), headers=JSON)
    assert r.status_code == 422, r.text[:500]
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = next(i for i in body["issue"] if i["details"]["coding"][0]["code"] == "xml-limit")
    assert issue["code"] == "too-costly"
    assert limit_words in issue["details"]["text"]
    assert issue["expression"] == ["Bundle.entry[2].resource.data"]  # the Binary carrying the CDA


def test_a_supplied_cda_at_the_limits_is_still_parsed() -> None:
    own = len(xmldoc.parse(VALID_CDA.read_bytes()).attrib)
    at_limit = _on_root(" ".join(f'a{i}="x"' for i in range(xmldoc.MAX_ATTRIBUTES - own)))
    assert len(xmldoc.parse(at_limit, large_text=True).attrib) == xmldoc.MAX_ATTRIBUTES
