"""Whether the SubmissionSet uniqueId is the client's: part of a submission's meaning (facade.registration), which no
longer reads the request bytes (the parser drops them) but asks the mapping."""

from __future__ import annotations

from .conftest import CONFORMANCE, Run, load

LDL = CONFORMANCE / "ldl-ses" / "pdf-discharge-letter.json"


def test_an_urn_oid_identifier_of_the_list_is_the_client_s(run: Run) -> None:
    result = run(LDL)
    assert result.submission.unique_id == "1.2.250.1.999.1.1.200.1" and result.submission_id_given


def test_a_generated_one_is_not(run: Run) -> None:
    request = load(LDL)
    request["entry"][0]["resource"]["identifier"] = [
        i for i in request["entry"][0]["resource"]["identifier"] if not i["value"].startswith("urn:oid:")
    ]
    result = run(request)
    assert result.submission.unique_id.startswith("1.2.250.1.999.1.9.") and not result.submission_id_given
