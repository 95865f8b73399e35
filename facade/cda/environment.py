"""The one Jinja environment for CDA templates (stack-notes §7).

- autoescape for ``*.xml.j2`` too: ``select_autoescape(["xml"])`` alone does NOT match ``document.xml.j2``;
- StrictUndefined: a missing name is a template bug, not an empty element;
- finalize: None renders as "" (not "None") and XML-forbidden control characters are dropped;
- trim_blocks / lstrip_blocks: template tags leave no stray blank lines.
Build it once per process: compiling the templates costs milliseconds, rendering sub-millisecond.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from facade.cda.elements import ELEMENTS
from facade.cda.filters import FILTERS, xml_text
from facade.cda.lab_elements import LAB_ELEMENTS


def create_environment(templates_dir: Path) -> Environment:
    """``templates_dir`` is the folder holding ``_base/`` and one folder per document model (``n1/``, ``cr-bio/``)."""
    env = Environment(
        loader=FileSystemLoader(str(templates_dir)),
        autoescape=select_autoescape(enabled_extensions=("xml", "xml.j2", "j2"), default_for_string=True),
        undefined=StrictUndefined,
        finalize=xml_text,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(FILTERS)
    env.globals.update(ELEMENTS)  # the leaf macros written in Python (bound to their macro names in the templates)
    env.globals.update(LAB_ELEMENTS)
    return env


__all__ = ["create_environment"]
