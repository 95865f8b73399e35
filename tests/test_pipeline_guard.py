"""The feeding path's guard: an artefact the facade built that fails validation is the facade's bug, answered 500.

Regression: ``require_valid`` raised with only the OUTPUT_XSD issues, whose catalogue status (422, right for a
``$preview`` report) then became the HTTP status of the submit, telling the client the fault was theirs."""

from __future__ import annotations

from typing import Any, cast

import pytest

from facade.api.outcomes import operation_outcome
from facade.errors import DocumentBuildError, Issue, Problem
from facade.pipeline import Conversion, require_valid


def _conversion(*issues: Issue) -> Conversion:
    # require_valid reads only the issues; the mapping and documents play no part in the decision
    return Conversion(mapping=cast(Any, None), documents=(), issues=(), by_document={"1.2.3": issues})


def test_invalid_generated_cda_is_a_500_that_keeps_every_detail() -> None:
    xsd = [
        Issue(Problem.OUTPUT_XSD, None, {"artefact": "CDA 1.2.3", "line": n, "reason": f"element {n}"}) for n in (4, 9)
    ]
    with pytest.raises(DocumentBuildError) as caught:
        require_valid(_conversion(*xsd))
    error = caught.value
    assert error.http_status == 500
    assert error.problem is Problem.CDA_NOT_SCHEMA_VALID
    codes = [i["details"]["coding"][0]["code"] for i in operation_outcome(error.issues)["issue"]]
    assert codes == ["cda-not-schema-valid", "output-xsd", "output-xsd"]


def test_warnings_alone_do_not_stop_a_submission() -> None:
    warning = Issue(Problem.OUTPUT_SCHEMATRON_WARNING, None, {"artefact": "CDA", "schematron": "s", "reason": "r"})
    require_valid(_conversion(warning))  # no exception
