"""FHIR lab results (DiagnosticReport + Observations) -> CR-BIO level 3 (``facade.model.lab``).

Modules, in reading order:

* ``routing``: which documents of a request are lab reports (decided once), the derived "no DocumentReference"
  case, and the check that no result is left out;
* ``report``: ``to_lab_report``, the orchestrator: a list of named steps over the request's MappingContext;
* ``participants``: performing lab, responsible biologist, order and prescriber (through the level-1 transformers);
* ``observations``: results, panels, isolates, components, specimens; ``checks``: subject and period checks;
* ``values``: value[x], UCUM units, interpretations, reference ranges;
* ``narrative`` / ``pdf``: texts of the narrative and of the generated PDF copy;
* ``document``: the CR-BIO document (``apply_lab_report``, ``lab_document_from_report``);
* ``state``: what the steps share.
"""

from facade.mapping.lab.document import apply_lab_report, lab_document_from_report
from facade.mapping.lab.narrative import iter_results, range_text, report_lines, value_text
from facade.mapping.lab.report import LabMapping, find_lab_report, to_lab_report
from facade.mapping.lab.values import ucum_error

__all__ = [
    "LabMapping",
    "apply_lab_report",
    "find_lab_report",
    "iter_results",
    "lab_document_from_report",
    "range_text",
    "report_lines",
    "to_lab_report",
    "ucum_error",
    "value_text",
]
