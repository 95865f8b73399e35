"""FHIR Address / ContactPoint -> model Address / Telecom: one reading for patients, practitioners and
organizations alike (level 1 and lab).

* an Address without line, city or postal code is dropped (an empty ``addr`` says nothing);
* a ContactPoint needs a value and a known system (phone, fax, email, url): phone and fax numbers lose spaces and
  dots and get the ``tel:`` / ``fax:`` scheme, an email ``mailto:``; ``use`` maps to the HL7 v3 telecom use.
"""

from __future__ import annotations

from typing import Any

from facade.model.document import Address, Telecom

_ADDRESS_USE = {"home": "H", "work": "WP", "temp": "TMP", "old": "OLD"}
_TELECOM_USE = {"home": "H", "work": "WP", "mobile": "MC", "temp": "TMP"}
_TELECOM_SCHEME = {"phone": "tel:", "email": "mailto:", "fax": "fax:", "url": ""}


def to_address(raw: Any) -> Address | None:
    if not isinstance(raw, dict):
        return None
    lines = tuple(str(x) for x in raw.get("line") or [] if x)
    if not (lines or raw.get("city") or raw.get("postalCode")):
        return None
    return Address(
        lines=lines,
        city=raw.get("city"),
        postal_code=raw.get("postalCode"),
        country=raw.get("country"),
        use=_ADDRESS_USE.get(str(raw.get("use"))),
    )


def to_addresses(raw: Any) -> tuple[Address, ...]:
    """Every non-empty Address of a list (``Patient.address``, ``Organization.address`` ...)."""
    return tuple(a for a in (to_address(x) for x in raw or []) if a)


def to_telecoms(raw: Any) -> tuple[Telecom, ...]:
    out: list[Telecom] = []
    for item in raw or []:
        if not isinstance(item, dict) or not item.get("value"):
            continue
        scheme = _TELECOM_SCHEME.get(str(item.get("system")))
        if scheme is None:
            continue
        value = str(item["value"]).strip()
        if scheme == "tel:" or scheme == "fax:":
            value = value.replace(" ", "").replace(".", "")
        out.append(
            Telecom(
                value if scheme == "" or value.startswith(scheme) else scheme + value,
                _TELECOM_USE.get(str(item.get("use"))),
            )
        )
    return tuple(out)


__all__ = ["to_address", "to_addresses", "to_telecoms"]
