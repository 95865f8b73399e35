"""Fuzzing the FHIR endpoints in-process: random JSON, FHIR-shaped documents and mutations of valid conformance
bundles (deleted / replaced / duplicated fields, wrong types, huge strings, deep nesting, unicode, BOM, control
characters, broken UTF-8, truncation) must never give a 500 nor hang: always a FHIR answer (OperationOutcome, or
Parameters / Bundle / Task on success).

Bounded by default (``FACADE_FUZZ_EXAMPLES``, 200 examples per test); the ``slow`` test runs more. A hung request
fails through a watchdog thread, a slow one through the Hypothesis deadline.
"""

from __future__ import annotations

import concurrent.futures
import copy
import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from facade.app import create_app
from facade.cli import demo_settings
from facade.pki import TestPki, init_test_pki
from facade.settings import PROJECT_ROOT, FacilityConfig, Settings

from .conftest import Signer

EXAMPLES = int(os.environ.get("FACADE_FUZZ_EXAMPLES", "200"))
HANG_SECONDS = 60  # watchdog: a request still running after this is a hang
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # seeded: the same examples on every run (a failure reproduces); FACADE_FUZZ_EXAMPLES widens
    deadline=timedelta(seconds=10),  # generous: the point is "bounded", not "fast" (no timing assertion)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BUNDLES = PROJECT_ROOT / "conformance" / "bundles"
SEEDS = {
    "iti65": json.loads((BUNDLES / "cr" / "text-plain-report.json").read_text(encoding="utf-8-sig")),
    "iti105": json.loads((BUNDLES / "iti105" / "simplified-publish.json").read_text(encoding="utf-8-sig")),
}
ENDPOINTS = ["/fhir/Bundle/$preview", "/fhir/DocumentReference/$preview", "/fhir", "/fhir/DocumentReference"]
FHIR_TYPES = {"OperationOutcome", "Parameters", "Bundle", "Task", "CapabilityStatement", "OperationDefinition"}
DEAD_DMP = "https://127.0.0.1:9/si-dmp-server/v2/services/repository"  # nothing listens: inline sends fail fast


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The real app with sending configured (the feeding endpoint does its full work up to the send), relay off."""
    facility = FacilityConfig()
    base = tmp_path_factory.mktemp("fuzz")
    pki: TestPki = init_test_pki(base / "pki", structure_id="1" + facility.finess_ej)
    s = demo_settings(base / "state", DEAD_DMP, pki)
    assert isinstance(s, Settings)
    s.outbox.relay = False
    s.dmp.connect_timeout = 2.0
    app: FastAPI = create_app(s)
    with TestClient(app, raise_server_exceptions=False) as client:
        for seed in SEEDS.values():  # warm up (model build, templates, schema) outside the timed examples
            client.post("/fhir/Bundle/$preview", content=json.dumps(seed).encode(), headers=_headers())
        yield client


_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="fuzz")


def _headers(content_type: str = "application/fhir+json", prefer_async: bool = True) -> dict[str, str]:
    headers = {"content-type": content_type}
    if prefer_async:
        headers["prefer"] = "respond-async"
    return headers


def _post(client: TestClient, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    future = _pool.submit(client.post, path, content=body, headers=headers)
    try:
        return future.result(timeout=HANG_SECONDS)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"POST {path} hung for more than {HANG_SECONDS}s ({len(body)} bytes)")


def _check(r: httpx.Response, path: str) -> None:
    if currently_in_test_context():  # statistics for --hypothesis-show-statistics
        event(f"{path} -> {r.status_code}")
    assert r.status_code < 500, f"POST {path} -> {r.status_code}: {r.text[:2000]}"
    assert r.headers["content-type"].startswith("application/fhir+json"), r.headers["content-type"]
    body = r.json()
    assert isinstance(body, dict) and body.get("resourceType") in FHIR_TYPES, r.text[:500]
    if r.status_code >= 400:
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"] and all("code" in i and "severity" in i for i in body["issue"])


# --- strategies ---------------------------------------------------------------------------------------------------

SPICY_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "\u0000",
            "\x0b\x0c\x1b",
            "\ufeff",
            "\u202e\u0645\u0631\u062d\u0628\u0627",
            "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀",
            "e\u0301",
            "<![CDATA[x]]>",
            "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>",
            "{{ 7*7 }}",
            "${jndi:ldap://x}",
            "../../etc/passwd",
            "urn:oid:",
            "#",
            "Patient/",
            "1.2.250.1.213.1.4.8",
            "279035121518989",
            "9999-99-99",
            "2026-02-30T25:61:61+99:00",
            "-0",
            "1e309",
            "data:application/pdf;base64,AAAA",
        ]
    ),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    SPICY_TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)
FHIR_KEYS = ["resourceType", "type", "entry", "resource", "fullUrl", "id", "meta", "identifier", "subject",
             "content", "attachment", "data", "contentType", "masterIdentifier", "status", "request", "method",
             "url", "extension", "valueCode", "system", "value", "reference", "author", "date", "_birthDate"]
FHIR_SHAPED = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(FHIR_KEYS), inner, max_size=6)
    | st.fixed_dictionaries(
        {"resourceType": st.sampled_from(["Bundle", "DocumentReference", "Patient", "Binary", "List", "bundle"])},
        optional={"type": st.sampled_from(["transaction", "document", "batch", "x"]), "entry": st.lists(inner)},
    ),
    max_leaves=30,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


SEED_PATHS = {name: [p for p in _paths(seed) if p] for name, seed in SEEDS.items()}
DEEP = "__fuzz_deep__"
OPERATIONS = ["delete", "replace", "duplicate", "wrong-type", "huge-string", "deep", "unicode", "unicode", "unicode",
              "control", "null", "delete", "duplicate"]


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


def _mutate(doc: Any, path: tuple[Any, ...], op: str, data: st.DataObject) -> None:
    parent, key = _parent(doc, path), path[-1]
    current = parent[key]
    if op == "delete":
        del parent[key]
    elif op == "replace":
        parent[key] = data.draw(FHIR_SHAPED, label="replacement")
    elif op == "duplicate":
        if isinstance(parent, list):
            parent.insert(key, copy.deepcopy(current))
        else:
            parent[key] = [current, copy.deepcopy(current)]
    elif op == "wrong-type":
        swaps: dict[type, Any] = {
            str: 12345, int: "12345", float: "1.5", bool: "true", dict: [current], list: {"0": current}
        }
        parent[key] = swaps.get(type(current), {"unexpected": True})
    elif op == "huge-string":
        parent[key] = "Ω" * data.draw(st.sampled_from([10_000, 300_000, 3_000_000]), label="huge")
    elif op == "deep":
        parent[key] = DEEP
    elif op == "unicode":
        parent[key] = data.draw(SPICY_TEXT, label="unicode")
    elif op == "control":
        text = current if isinstance(current, str) else json.dumps(current)
        bad = data.draw(st.sampled_from(["\x00", "\x07", "\x1f", "\x7f", "\ud800"]), label="control")
        parent[key] = text[: len(text) // 2] + bad + text
    elif op == "null":
        parent[key] = None


def _encode(doc: Any, data: st.DataObject) -> bytes:
    text = json.dumps(doc, ensure_ascii=data.draw(st.booleans(), label="ascii"))
    if DEEP in text:
        depth = data.draw(st.sampled_from([70, 1_000, 100_000]), label="depth")
        opener, closer = data.draw(st.sampled_from([("[", "]"), ('{"a":', "}")]), label="nest")
        text = text.replace(json.dumps(DEEP), opener * depth + "1" + closer * depth, 1)
    body = text.encode("utf-8", errors="surrogatepass")
    if data.draw(st.integers(0, 3), label="bom") == 0:
        body = b"\xef\xbb\xbf" + body
    # byte-level damage stops everything at the parser: keep it rare so most examples reach mapping and rendering
    tweak = data.draw(st.sampled_from(["none"] * 9 + ["truncate", "bad-utf8", "trailing"]), label="bytes")
    if tweak == "truncate":
        body = body[: data.draw(st.integers(0, len(body)), label="cut")]
    elif tweak == "bad-utf8":
        at = data.draw(st.integers(0, len(body)), label="at")
        body = body[:at] + b"\xc3\x28\xff" + body[at:]
    elif tweak == "trailing":
        body += b" {} garbage"
    return body


# --- properties ---------------------------------------------------------------------------------------------------


@FUZZ
@given(
    path=st.sampled_from(ENDPOINTS),
    doc=st.one_of(JSON, FHIR_SHAPED),
    content_type=st.sampled_from(["application/fhir+json", "application/json", "application/json; charset=utf-8"]),
    prefer_async=st.booleans(),
)
@example(path="/fhir", doc={"resourceType": "Bundle", "type": "transaction", "entry": [None]},
         content_type="application/fhir+json", prefer_async=False)
def test_random_json_never_500(
    fuzz_client: TestClient, path: str, doc: Any, content_type: str, prefer_async: bool
) -> None:
    body = json.dumps(doc).encode()
    _check(_post(fuzz_client, path, body, _headers(content_type, prefer_async)), path)


@FUZZ
@given(path=st.sampled_from(ENDPOINTS), body=st.binary(max_size=2048), content_type=st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40))
@example(path="/fhir/Bundle/$preview", body=b"[" * 200_000, content_type="application/json")
@example(path="/fhir", body=b"\xef\xbb\xbf\xef\xbb\xbf{}", content_type="application/fhir+json")
@example(path="/fhir", body=b'{"resourceType": "Bundle", "type": "transaction", "entry": 1e999999}',
         content_type="application/fhir+json")
def test_random_bytes_and_content_types_never_500(
    fuzz_client: TestClient, path: str, body: bytes, content_type: str
) -> None:
    _check(_post(fuzz_client, path, body, _headers(content_type)), path)


def _mutated(data: st.DataObject) -> tuple[str, bytes, bool]:
    seed_name = data.draw(st.sampled_from(sorted(SEEDS)), label="seed")
    doc = copy.deepcopy(SEEDS[seed_name])
    for _ in range(data.draw(st.integers(1, 2), label="mutations")):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        _mutate(doc, path, data.draw(st.sampled_from(OPERATIONS), label="op"), data)
    endpoint = data.draw(st.sampled_from(ENDPOINTS), label="endpoint")
    return endpoint, _encode(doc, data), data.draw(st.booleans(), label="async")


@FUZZ
@given(data=st.data())
def test_mutated_conformance_bundles_never_500(fuzz_client: TestClient, data: st.DataObject) -> None:
    endpoint, body, prefer_async = _mutated(data)
    _check(_post(fuzz_client, endpoint, body, _headers(prefer_async=prefer_async)), endpoint)


@pytest.mark.slow
@settings(FUZZ, max_examples=max(EXAMPLES * 5, 1000))
@given(data=st.data())
def test_mutated_conformance_bundles_never_500_long_run(fuzz_client: TestClient, data: st.DataObject) -> None:
    endpoint, body, prefer_async = _mutated(data)
    _check(_post(fuzz_client, endpoint, body, _headers(prefer_async=prefer_async)), endpoint)


def test_the_unmutated_seeds_are_accepted(fuzz_client: TestClient) -> None:
    """Guards the fuzzers: if the seeds were refused, mutations would only exercise the first check."""
    for name, seed in SEEDS.items():
        r = _post(fuzz_client, "/fhir/Bundle/$preview", json.dumps(seed).encode(), _headers())
        assert r.status_code == 200, (name, r.text[:1000])
        assert r.json()["resourceType"] == "Parameters"


# --- the bearer-token parser under fuzz -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oauth2_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Signer]]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from .conftest import AUDIENCE, ISSUER, write_jwks

    signer = Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", "fuzz")
    base = tmp_path_factory.mktemp("fuzz-oauth2")
    jwks = write_jwks(base / "jwks.json", signer)
    s = Settings(
        environment="production",
        state_dir=base / "state",
        auth={"mode": "oauth2", "tls_terminated_upstream": True,
              "oauth2": {"issuer": ISSUER, "audience": AUDIENCE, "jwks_file": jwks}},
    )
    yield TestClient(create_app(s), raise_server_exceptions=False), signer


@FUZZ
@given(data=st.data())
def test_random_and_mangled_tokens_are_401_never_500(
    oauth2_client: tuple[TestClient, Signer], data: st.DataObject
) -> None:
    client, signer = oauth2_client
    token = data.draw(
        st.one_of(
            st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=300),
            st.builds(lambda t, i, c: t[:i] + c + t[i + 1:], st.just(signer.token()), st.integers(0, 600),
                      st.sampled_from(list("A_-.=/+0"))),
            st.just("e30." * 3000),
        ),
        label="token",
    )
    r = client.get("/fhir/OperationDefinition/preview", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (200, 401, 403), r.text[:500]
    if r.status_code != 200:
        assert r.json()["resourceType"] == "OperationOutcome"
        assert r.headers["www-authenticate"].startswith("Bearer")


READ_PATHS = [
    "/fhir/metadata",
    "/fhir/OperationDefinition/preview",
    "/fhir/Task/{x}",
    "/fhir/Task/{x}/",
    "/fhir/DocumentReference/{x}",
    "/fhir/DocumentReference",  # search (GET), PATCH (conditional on identifier) and DELETE (405)
    "/fhir/AuditEvent",
    "/fhir/Patient",
    "/fhir/Binary/{x}",
    "/fhir/{x}",
    "/fhir/Bundle/{x}",
    "/{x}",
    "/health",
    "/health/live",
    "/health/ready",
    "/metrics",
    "/infocentre",
    "/infocentre.csv",
    "/infocentre.json",
]
QUERY_KEYS = ["date", "patient", "entity", "_count", "_format", "validate", "subtype", "{x}", "patient.identifier",
              "status", "identifier", "period", "_offset", "from", "to", "delay_from"]  # fmt: skip


@FUZZ
@given(
    method=st.sampled_from(["GET", "GET", "GET", "HEAD", "DELETE", "PUT", "PATCH", "OPTIONS", "POST"]),
    template=st.sampled_from(READ_PATHS),
    segment=SPICY_TEXT,
    query=st.lists(st.tuples(st.sampled_from(QUERY_KEYS), SPICY_TEXT), max_size=4),
    accept=st.sampled_from(["application/fhir+json", "text/html", "*/*", "application/xml", "\x00", ""]),
)
def test_every_endpoint_and_method_answers_without_500(
    fuzz_client: TestClient, method: str, template: str, segment: str, query: list[tuple[str, str]], accept: str
) -> None:
    """Reads (metadata, Task, AuditEvent, health), unknown paths and wrong methods with spicy path segments, query
    parameters and Accept headers: never a 500, never a hang, a FHIR body on every /fhir path."""
    from urllib.parse import quote

    path = template.replace("{x}", quote(segment.encode("utf-8", "surrogatepass"), safe=""))
    params = [(k.replace("{x}", segment or "x"), v) for k, v in query]
    request = fuzz_client.build_request(method, path, params=params, headers={"accept": accept} if accept else {})
    future = _pool.submit(fuzz_client.send, request)
    try:
        r = future.result(timeout=HANG_SECONDS)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"{method} {path} hung for more than {HANG_SECONDS}s")
    assert r.status_code < 500, f"{method} {path} -> {r.status_code}: {r.text[:2000]}"
    if path.startswith("/fhir") and method != "HEAD" and r.status_code not in (204, 304):
        _check(r, f"{method} {template}")


def test_every_route_of_the_app_is_fuzzed(fuzz_client: TestClient) -> None:
    """The fuzz lists follow the app: a route added later (the document lifecycle endpoints) fails here until it is
    fuzzed by the tests above."""
    from starlette.routing import Route

    fuzzed = {*ENDPOINTS, *READ_PATHS}
    app = fuzz_client.app
    assert isinstance(app, FastAPI)
    missing = []
    for route in app.routes:
        if not isinstance(route, Route) or route.path.startswith("/_"):  # /_docs, /_openapi.json: FastAPI's own
            continue
        template = re.sub(r"\{[^}]+\}", "{x}", route.path)
        if template not in fuzzed:
            missing.append(route.path)
    assert not missing, f"routes the fuzz tests never call: {missing}"


def test_fuzz_seed_files_exist() -> None:
    assert all(Path(BUNDLES / p).is_file() for p in ("cr/text-plain-report.json", "iti105/simplified-publish.json"))


# --- regressions found by the fuzzers -------------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\x1b", "\x00", "\x08", "\ufffe", "\uffff"])
@pytest.mark.parametrize("endpoint", ["/fhir/Bundle/$preview", "/fhir"])
def test_characters_xml_cannot_carry_are_refused_not_500(fuzz_client: TestClient, endpoint: str, char: str) -> None:
    """FHIR strings SHALL NOT contain characters below U+0020 other than TAB, CR, LF (FHIR R4 §2.24.0.1 string);
    XML 1.0 cannot carry them nor U+FFFE/U+FFFF. Found by test_mutated_conformance_bundles_never_500: such a
    character in Patient.name.family reached lxml in the ebRIM builder and answered 500."""
    doc = copy.deepcopy(SEEDS["iti65"])
    patient = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["name"][0]["family"] += char
    r = _post(fuzz_client, endpoint, json.dumps(doc).encode(), _headers())
    _check(r, endpoint)
    assert r.status_code in (400, 422)
