"""A plain SOAP 1.2 request as the simulator received it (``STATE/inbox/<n>.http``), read with bytes operations and
lxml only: request line, headers, envelope, WS-A Action and the first Body child."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from .received import NS, parse_xml


@dataclass(frozen=True)
class PlainRequest:
    request_line: str
    headers: dict[str, str]
    envelope: etree._Element

    @classmethod
    def read(cls, path: Path) -> PlainRequest:
        head, _, body = path.read_bytes().partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {n.strip().lower(): v.strip() for n, _, v in (ln.partition(":") for ln in lines[1:])}
        assert int(headers["content-length"]) == len(body)
        return cls(lines[0], headers, parse_xml(body))

    @property
    def action(self) -> str:
        found = self.envelope.find("soap:Header/{http://www.w3.org/2005/08/addressing}Action", NS)
        assert found is not None
        return (found.text or "").strip()

    @property
    def payload(self) -> etree._Element:
        body = self.envelope.find("soap:Body", NS)
        assert body is not None
        return next(c for c in body if isinstance(c.tag, str))

    def vihf_value(self, name: str) -> str | None:
        values = self.envelope.xpath(
            "soap:Header/wsse:Security/saml2:Assertion//saml2:Attribute[@Name=$n]/saml2:AttributeValue/text()",
            namespaces=NS,
            n=name,
        )
        return str(values[0]) if values else None
