"""A ready-made CDA is sent as the DPI sent it (pdsm4dmp §1.5: never alter its bytes), or in its C14N form when
``FACADE_INPUT__READY_MADE_BYTES=canonical``; either way the simulator verifies the XAdES lot signature over it and
the DocumentEntry hash and size are those of the bytes on the wire."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pytest

from facade.cda.canonical import canonicalize
from facade.settings import Settings
from facade.xmldoc import parse
from tests.conformance.test_ready_made_kit import KIT_CDA, fix_ins_key, wrap
from tests.e2e.conftest import Facade

EXAMPLE = KIT_CDA / "LDL-SES" / "LDL-SES_2022.01.xml"  # valid for its volet; a stylesheet PI, comments, indentation
pytestmark = pytest.mark.skipif(not EXAMPLE.is_file(), reason=f"the ANS conformance kit is absent ({EXAMPLE})")


def _example() -> bytes:
    return fix_ins_key(EXAMPLE.read_bytes())


def _unique_id(xml: bytes) -> str:
    return str(parse(xml).xpath("/*/*[local-name()='id']/@root")[0])


def _send(facade: Facade, xml: bytes) -> bytes:
    response = facade.post(json.dumps(wrap(xml)).encode())
    assert response.status_code == 200, response.text
    registry = facade.simulator.simulator.registry
    stored = registry.by_unique_id(_unique_id(xml))
    assert stored is not None and stored.status.endswith("Approved")  # the simulator verified the lot signature
    sent = registry.content(_unique_id(xml))
    assert sent is not None
    assert stored.hash == hashlib.sha1(sent).hexdigest()  # noqa: S324 (XDS hash is SHA-1)
    return sent


def test_the_received_bytes_are_sent_unchanged(facade: Facade) -> None:
    xml = _example()
    assert canonicalize(parse(xml).getroottree(), with_comments=True) != xml  # the test means something
    assert _send(facade, xml) == xml


def test_canonical_form_is_a_setting(start_facade: Callable[..., Facade]) -> None:
    def canonical(settings: Settings) -> None:
        settings.input.ready_made_bytes = "canonical"

    facade = start_facade(configure=canonical)
    xml = _example()
    sent = _send(facade, xml)
    assert sent != xml
    assert sent == canonicalize(parse(xml).getroottree(), with_comments=True)


@pytest.mark.parametrize("value", ["received", "canonical"])
def test_the_setting_reads_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FACADE_INPUT__READY_MADE_BYTES", value)
    assert Settings(environment="development").input.ready_made_bytes == value
