"""A submitted ExtrinsicObject in the form the simulated DMP registry keeps and answers it (ITI-18 LeafClass).

The registry assigns what the sender does not give (IHE ITI TF-3 4.1, pdsm4dmp §3.1 and the kit's TD3.1 response):
the entryUUID as ``id`` (a symbolic id is replaced, and every ``classifiedObject`` / ``registryObject`` pointing at
it follows), the logical id ``lid``, the availability ``status``, ``VersionInfo/@versionName``, and the slots
``repositoryUniqueId``, ``hash`` and ``size`` when absent. Children are put in ebRIM 3.0 order (Slot, Name,
Description, VersionInfo, Classification, ExternalIdentifier, ContentVersionInfo) so the answer passes the XSD.
"""

from __future__ import annotations

import uuid
from copy import deepcopy

from lxml import etree

from facade.simulator.metadata import RIM_NS

_RIM = f"{{{RIM_NS}}}"
_ORDER = {
    f"{_RIM}Slot": 0,
    f"{_RIM}Name": 1,
    f"{_RIM}Description": 2,
    f"{_RIM}VersionInfo": 3,
    f"{_RIM}Classification": 4,
    f"{_RIM}ExternalIdentifier": 5,
    f"{_RIM}ContentVersionInfo": 6,
}


def _add_slot(el: etree._Element, name: str, value: str) -> None:
    if any(s.get("name") == name for s in el.findall(f"{_RIM}Slot")):
        return
    slot = etree.SubElement(el, f"{_RIM}Slot", name=name)
    etree.SubElement(etree.SubElement(slot, f"{_RIM}ValueList"), f"{_RIM}Value").text = value


def _fresh_id(value: str | None) -> str:
    return value if value and value.startswith("urn:uuid:") else f"urn:uuid:{uuid.uuid4()}"


def registry_form(
    submitted: etree._Element,
    *,
    entry_uuid: str,
    lid: str,
    version: int,
    status: str,
    registry_slots: dict[str, str],
) -> etree._Element:
    """A copy of ``submitted`` as the registry holds it (the submitted element is left untouched)."""
    el = deepcopy(submitted)
    el.set("id", entry_uuid)
    el.set("isOpaque", el.get("isOpaque") or "false")  # as the DMP answers (kit TD3.1 response)
    el.set("lid", lid)
    el.set("status", status)
    for old in el.findall(f"{_RIM}VersionInfo"):
        el.remove(old)
    etree.SubElement(el, f"{_RIM}VersionInfo", versionName=str(version))
    for name, value in registry_slots.items():
        _add_slot(el, name, value)
    for child in el.findall(f"{_RIM}Classification"):
        child.set("classifiedObject", entry_uuid)
        child.set("id", _fresh_id(child.get("id")))
    for child in el.findall(f"{_RIM}ExternalIdentifier"):
        child.set("registryObject", entry_uuid)
        child.set("id", _fresh_id(child.get("id")))
    children = [c for c in el if isinstance(c.tag, str)]
    for child in list(el):
        el.remove(child)
    for child in sorted(children, key=lambda c: _ORDER.get(str(c.tag), 7)):  # stable: same-kind order kept
        el.append(child)
    return el


def to_bytes(el: etree._Element) -> bytes:
    return bytes(etree.tostring(el, encoding="UTF-8"))
