"""Never a 500: any mutation of a valid bundle ends in a MappingResult or a FacadeError, nothing else."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facade.errors import FacadeError
from facade.fhir.parse import parse_request
from facade.mapping.bundle_to_submission import to_submission
from facade.terminology.tables import Terminology

from .conftest import CONFORMANCE, TEST_POLICY, load, make_ctx

SOURCES = [load(CONFORMANCE / name) for name in ("multi/two-documents.json", "iti105/simplified-publish.json")]
TERMINOLOGY = Terminology.load()


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            if k != "data":  # keep base64 payloads out of the search space (large, and checked elsewhere)
                out.extend(paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(paths(v, (*prefix, i)))
    return out


REPLACEMENTS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(
        ["", "x", "urn:oid:1.2", "#", "Patient/x", "2026-01-01", "urn:uuid:00000000-0000-4000-8000-0000000000ff"]
    ),
    st.just([]),
    st.just({}),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SOURCES))), st.data())
def test_mutations_never_escape_as_other_exceptions(source: int, data: st.DataObject) -> None:
    bundle = copy.deepcopy(SOURCES[source])
    for _ in range(data.draw(st.integers(1, 3))):
        candidates = paths(bundle)
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates))
        parent = bundle
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(REPLACEMENTS)
    try:
        to_submission(parse_request(json.dumps(bundle).encode()), make_ctx(), TERMINOLOGY, TEST_POLICY)
    except FacadeError as exc:
        assert exc.issues and all(400 <= i.problem.spec.http_status < 500 for i in exc.issues)
