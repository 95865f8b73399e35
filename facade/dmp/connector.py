"""The DMP connector beyond feeding, wired from the settings: status (TD0.2), search (TD3.1), retrieve (TD3.2), update
(TD3.3a-d); the runtime adds the lookup of replaced documents the facade never sent. Built once by ``Runtime.dmp``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from facade.dmp.client import DmpClient
from facade.dmp.patient_status import PatientStatusService, Sender
from facade.dmp.retrieve import RetrieveService
from facade.dmp.search import DocumentSearchService
from facade.dmp.update import DocumentUpdater
from facade.ids import system_now
from facade.model import oids
from facade.model.document import Code
from facade.outbox.store import Outbox
from facade.settings import Settings


@dataclass
class DmpConnector:
    settings: Settings
    client: DmpClient
    outbox: Outbox
    new_oid: Callable[[], str]
    patient_secret: bytes

    @cached_property
    def status(self) -> PatientStatusService:
        s = self.settings
        return PatientStatusService(
            self.client, Sender(s.facility.source_id, s.vihf.lps_name), s.vihf.auth_mode,
            tuple(s.dmp.granted_transactions), system_now,
        )  # fmt: skip

    @cached_property
    def retrieval(self) -> RetrieveService:
        s = self.settings
        return RetrieveService(
            self.client, s.dmp.repository_unique_id, s.vihf.auth_mode, tuple(s.dmp.granted_transactions)
        )

    @cached_property
    def search(self) -> DocumentSearchService:
        s = self.settings
        return DocumentSearchService(
            client=self.client, outbox=self.outbox, auth_mode=s.vihf.auth_mode, granted=s.dmp.granted_transactions
        )

    @cached_property
    def updater(self) -> DocumentUpdater:
        s = self.settings
        return DocumentUpdater(
            client=self.client,
            outbox=self.outbox,
            facility=s.facility.to_model(),
            content_type=Code(
                s.facility.content_type_code, oids.TRE_R209_TYPE_ACTIVITE, s.facility.content_type_display
            ),
            auth_mode=s.vihf.auth_mode,
            granted=s.dmp.granted_transactions,
            new_oid=self.new_oid,
            now=system_now,
            patient_secret=self.patient_secret,
            software=s.vihf.lps_name,
            p4d_labels=s.dmp.security_label_patch == "p4d",
        )
