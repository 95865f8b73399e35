"""Settings -> components, built once per process (templates, tables, schema, signers, transport, store).

Only this module and the CLI read Settings; everything it builds takes explicit arguments (httpx style).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from starlette.requests import Request

from facade.cda.render import CdaRenderer
from facade.cda.validation import CdaSchema, FullValidator
from facade.ids import OidFactory, system_now
from facade.mapping.bundle_to_submission import InputPolicy
from facade.pipeline import Converter
from facade.settings import Settings
from facade.terminology.tables import Terminology

log = logging.getLogger("facade")


@dataclass
class Runtime:
    settings: Settings
    started_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    @property
    def send_enabled(self) -> bool:
        return bool(self.settings.dmp.repository_url)

    def base_url(self, request: Request) -> str:
        return self.settings.base_url or str(request.base_url).rstrip("/") + "/fhir"

    @cached_property
    def converter(self) -> Converter:
        s = self.settings
        kit = s.resolved_kit()
        schema = CdaSchema.from_kit(kit) if kit else None
        if kit is None:
            log.warning("no validation kit configured: generated CDA is not XSD-checked (set FACADE_VALIDATION_KIT)")
        return Converter(
            terminology=Terminology.load(),
            renderer=CdaRenderer(s.templates_dir),
            facility=s.facility.to_model(),
            policy=InputPolicy(
                accepted_ins_oids=s.input.accepted_ins_oids(),
                max_document_bytes=s.input.max_document_bytes,
                accept_legacy_vali=s.input.accept_legacy_vali,
            ),
            now=system_now,
            new_oid=OidFactory(s.facility.oid_root),
            schema=schema,
            full_validator=FullValidator(kit) if kit else None,
            max_json_depth=s.input.max_json_depth,
        )
