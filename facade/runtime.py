"""Settings -> components, built once per process (templates, tables, schema, signers, transport, store, relay).

Only this module and the CLI read Settings; everything built here takes explicit arguments (httpx style).
Sending components are built only when a DMP repository is configured; their certificates are checked at start-up
(``check_startup``) so a misconfigured facade refuses to start with a clear message instead of failing per request.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from facade.cda.render import CdaRenderer
from facade.cda.validation import CdaSchema, FullValidator
from facade.credentials import (
    Credential,
    check_client_auth_credential,
    check_signing_credential,
    client_ssl_context,
    days_to_expiry,
    load_pem,
    load_pkcs12,
)
from facade.dmp.client import DmpClient, DmpService, service_url
from facade.dmp.connector import DmpConnector
from facade.dmp.patient_status import PatientStatusService, feeding_check
from facade.dmp.replaced import ReplacedResolver
from facade.dmp.retrieve import RetrieveService
from facade.dmp.search import DocumentSearchService
from facade.dmp.update import DocumentUpdater
from facade.errors import FacadeError, Problem
from facade.feeding import Feeder
from facade.ids import OidFactory, system_now
from facade.mapping.bundle_to_submission import InputPolicy
from facade.metrics import Metrics
from facade.metrics import State as MetricsState
from facade.model import oids
from facade.model.document import Code
from facade.outbox.ownership import judge_for
from facade.outbox.policy import RetryPolicy
from facade.outbox.record import State
from facade.outbox.relay import Relay, default_owner
from facade.outbox.sqlite import SqliteOutbox
from facade.outbox.store import Outbox
from facade.pipeline import Converter
from facade.readiness import DmpReachability, Facts, Readiness, assess
from facade.settings import CredentialConfig, Settings
from facade.soap.saml import VihfSigner
from facade.soap.vihf_claims import AUTOMATE, VihfClaims, check_claims
from facade.soap.xades import LotSigner
from facade.submissions import SubmissionService
from facade.terminology.tables import Terminology
from facade.transport.mtls import MtlsTransport

log = logging.getLogger("facade")

PLACEHOLDER_INS_CX = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"  # ANS example test INS (valid key)
WARM_DOC_TYPES = ("cr-bio",)  # validate.py aliases of the volets whose schematron is compiled at start-up


def load_credential(config: CredentialConfig, what: str) -> Credential:
    password = config.password()
    if config.p12_base64 is not None:
        return load_pkcs12(base64.b64decode(config.p12_base64.get_secret_value()), password)
    if config.p12 is not None:
        return load_pkcs12(config.p12, password)
    if config.cert is not None and config.key is not None:
        return load_pem(config.cert, config.key, password)
    raise FacadeError(
        Problem.CONFIGURATION, reason=f"the {what} credential is not configured (PEM cert+key or PKCS#12)"
    )


@dataclass
class Runtime:
    settings: Settings
    started_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    _stop: threading.Event = field(default_factory=threading.Event)
    _relay_threads: list[threading.Thread] = field(default_factory=list)

    @property
    def send_enabled(self) -> bool:
        return bool(self.settings.dmp.repository_url)

    # --- conversion ---
    @cached_property
    def new_oid(self) -> OidFactory:
        return OidFactory(self.settings.facility.oid_root)

    @cached_property
    def converter(self) -> Converter:
        s = self.settings
        kit = s.resolved_kit()
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
                stylesheet_pi=s.input.stylesheet_pi,
                ins_trait_mismatch=s.input.ins_trait_mismatch,
                ready_made_bytes=s.input.ready_made_bytes,
                author_institution=s.facility.author_institution,
                allow_masked_and_invisible=s.visibility.allow_masked_and_invisible,
                require_confidentiality_label=s.visibility.require_confidentiality_label,
                # ITI-105 and bundles without designationType: the configured SubmissionSet contentTypeCode (J59)
                default_content_type=Code(
                    s.facility.content_type_code, oids.TRE_R209_TYPE_ACTIVITE, s.facility.content_type_display
                ),
            ),
            now=system_now,
            new_oid=self.new_oid,
            schema=CdaSchema.from_kit(kit) if kit else None,
            full_validator=FullValidator(kit) if kit and (kit / "validate.py").is_file() else None,
            max_json_depth=s.input.max_json_depth,
        )

    # --- sending ---
    @cached_property
    def auth_credential(self) -> Credential:
        return load_credential(self.settings.dmp.auth, "ORG AUTH_CLI (mutual TLS)")

    @cached_property
    def sign_credential(self) -> Credential:
        return load_credential(self.settings.dmp.sign, "ORG SIGN (VIHF and XAdES)")

    def check_startup(self) -> None:
        """Refuse to start, with a clear message, rather than fail per request (issue 3): unreadable validation kit,
        and when sending is configured: unusable certificates, a VIHF the DMP would refuse, no XSD check of what
        is sent. Unsafe setting values are refused earlier, by Settings itself."""
        try:
            _ = self.converter  # templates, tables and the CDA XSD are loaded now, not on the first request
        except OSError as exc:
            raise FacadeError(
                Problem.CONFIGURATION, reason=f"cannot load the validation kit or templates: {exc}"
            ) from exc
        if not self.send_enabled:
            return
        s = self.settings
        # The VIHF rules that depend on configuration (structure id, sector, LPS_*) fail every request if wrong:
        # check them now with a placeholder patient (the patient part is checked per submission).
        config_issues = [i for i in check_claims(self.feeder.claims_for(PLACEHOLDER_INS_CX)) if i.is_error]
        if config_issues:
            raise FacadeError(config_issues[0].problem, issues=config_issues)
        if s.environment == "production" and self.converter.schema is None:
            raise FacadeError(
                Problem.CONFIGURATION,
                reason="FACADE_VALIDATION_KIT is required in production: every CDA is checked against the ANS "
                "CDA_extended.xsd before it is sent",
            )
        now = datetime.now(UTC)
        check_client_auth_credential(self.auth_credential, now)
        check_signing_credential(self.sign_credential, now)
        _ = self.feeder  # builds the signers and the TLS context now, not on the first request

    @cached_property
    def transport(self) -> MtlsTransport:
        return self._transport_to(self.settings.dmp.repository_url)

    @cached_property
    def _client_ssl_context(self) -> ssl.SSLContext:
        dmp = self.settings.dmp
        assert dmp.ca_bundle is not None
        return client_ssl_context(self.auth_credential, dmp.ca_bundle, ciphers=dmp.ciphers)

    def _transport_to(self, url: str) -> MtlsTransport:
        dmp = self.settings.dmp
        return MtlsTransport(
            url,
            self._client_ssl_context,
            connect_timeout=dmp.connect_timeout,
            read_timeout=dmp.read_timeout,
            write_timeout=dmp.write_timeout,
            pool_timeout=dmp.pool_timeout,
            max_connections=dmp.max_connections,
        )

    @cached_property
    def feeder(self) -> Feeder:
        s = self.settings
        facility = s.facility.to_model()
        claims = VihfClaims(
            structure_id=facility.struct_idnat,
            sector=f"{facility.sector.code}^{facility.sector.system}",
            subject_id=s.vihf.subject_id,
            name_id=s.vihf.name_id or facility.struct_idnat,
            roles=(AUTOMATE,),
            patient_ins_cx="",
            lps_name=s.vihf.lps_name,
            lps_version=s.vihf.lps_version,
            lps_homologation=s.vihf.lps_homologation,
            lps_id=s.vihf.lps_id,
            auth_mode=s.vihf.auth_mode,
        )
        return Feeder(
            vihf_signer=VihfSigner(
                self.sign_credential,
                attribute_mode_name=s.dmp.vihf_mode_attribute,
                digest="sha1" if s.dmp.vihf_signature == "rsa-sha1" else "sha256",
            ),
            lot_signer=LotSigner(self.sign_credential, digest=s.dmp.xades_digest),
            claims=claims,
            transport=self.dmp_reachability.watch(self.transport),  # every attempt tells readiness what it saw
            wsa_to=s.dmp.repository_url if s.dmp.wsa_to == "endpoint" else "",
            now=system_now,
            new_oid=self.new_oid,
            subject_from_author=s.vihf.role == "author",
        )

    @cached_property
    def dmp_urls(self) -> dict[DmpService, str]:
        dmp = self.settings.dmp
        return {
            DmpService.REPOSITORY: dmp.repository_url,
            DmpService.REGISTRY: service_url(dmp.repository_url, DmpService.REGISTRY, dmp.registry_url),
            DmpService.PATIENTS: service_url(dmp.repository_url, DmpService.PATIENTS, dmp.patients_url),
        }

    @cached_property
    def _service_transports(self) -> dict[DmpService, MtlsTransport]:
        return {s: self._transport_to(url) for s, url in self.dmp_urls.items() if s is not DmpService.REPOSITORY}

    @cached_property
    def dmp_client(self) -> DmpClient:
        """The registry and patients services (ITI-18, ITI-57, TD0.2); the repository shares the feeding transport."""
        transports = {DmpService.REPOSITORY: self.transport, **self._service_transports}
        watched = {s: self.dmp_reachability.watch(t) for s, t in transports.items()}
        feeder = self.feeder
        wsa_to_endpoint = self.settings.dmp.wsa_to == "endpoint"
        return DmpClient(feeder.vihf_signer, feeder.claims, watched, self.dmp_urls, wsa_to_endpoint, system_now)

    @cached_property
    def dmp(self) -> DmpConnector:
        return DmpConnector(self.settings, self.dmp_client, self.outbox, self.new_oid, self.patient_secret)

    def connected_dmp(self) -> DmpConnector:
        """The DMP transactions beyond feeding (facade/dmp/); 501 when no DMP is configured."""
        if not self.send_enabled:
            raise FacadeError(Problem.SENDING_NOT_CONFIGURED)
        return self.dmp

    def patient_status(self) -> PatientStatusService:  # TD0.2
        return self.connected_dmp().status

    def retrieval(self) -> RetrieveService:  # TD3.2
        return self.connected_dmp().retrieval

    def document_search(self) -> DocumentSearchService:  # TD3.1
        return self.connected_dmp().search

    def document_updater(self) -> DocumentUpdater:  # TD3.3a-d
        return self.connected_dmp().updater

    @cached_property
    def dmp_reachability(self) -> DmpReachability:
        return DmpReachability(system_now)

    @cached_property
    def outbox(self) -> Outbox:
        url = self.settings.resolved_database_url()
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            return SqliteOutbox(path)
        if url.startswith(("postgresql://", "postgres://")):
            from facade.outbox.postgres import PostgresOutbox

            return PostgresOutbox(url)
        raise FacadeError(Problem.CONFIGURATION, reason="database_url must be sqlite:///PATH or postgresql://...")

    @cached_property
    def relay(self) -> Relay:
        """The relay used for the inline attempt of each submission."""
        return self.new_relay("inline")

    def new_relay(self, name: str) -> Relay:
        o = self.settings.outbox
        policy = RetryPolicy(
            base_delay=timedelta(seconds=o.retry_base_seconds),
            factor=o.retry_factor,
            max_delay=timedelta(seconds=o.retry_max_delay_seconds),
            horizon=timedelta(seconds=o.retry_horizon_seconds),
        )
        return Relay(
            self.outbox,
            self.feeder.deliver,
            policy,
            system_now,
            owner=f"{default_owner()}-{name}",
            lease=timedelta(seconds=o.lease_seconds),
            observe=self.metrics.observe_attempt,
        )

    @cached_property
    def patient_secret(self) -> bytes:
        configured = self.settings.outbox.patient_hash_secret
        if configured is not None:
            return configured.get_secret_value().encode()
        path = self.settings.state_dir / "patient-hash.secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip().encode()

    def submissions(self) -> SubmissionService:
        if not self.send_enabled:
            raise FacadeError(Problem.SENDING_NOT_CONFIGURED)
        return self._submission_service

    @cached_property
    def _submission_service(self) -> SubmissionService:
        return SubmissionService(
            converter=self.converter,
            feeder=self.feeder,
            outbox=self.outbox,
            relay=self.relay,
            patient_secret=self.patient_secret,
            metrics=self.metrics,
            # a replaced document the facade never sent: its entryUUID from the DMP (GetDocuments, TD3.1b)
            replaced_lookup=ReplacedResolver(
                self.outbox.find_document,
                self.dmp_client,
                auth_mode=self.settings.vihf.auth_mode,
                granted=self.settings.dmp.granted_transactions,
            ).for_body,
            precheck=feeding_check(self.patient_status()) if self.settings.dmp.check_status_before_feeding else None,
        )

    def start(self) -> None:
        self.check_startup()
        _ = self.metrics  # built once, before any request or relay thread can race to build it
        if self.settings.validation_warm_up:
            self.warm_up_full_validation()
        if self.send_enabled:
            # Leases of a killed process of this host are released now, not after their expiry: the records are
            # retried at once, flagged ambiguous (a duplicate answer then means the earlier attempt landed).
            # Ownership: this process holds a lock a dead process cannot (outbox/ownership.py); a sweeper releases
            # the leases of owners that lost theirs, within seconds, even of a zombie or of another host (PostgreSQL).
            url = self.settings.resolved_database_url()
            judge = judge_for(default_owner(), self.settings.state_dir, url if url.startswith("postgres") else None,
                              owner_is_gone)  # fmt: skip
            released = self.outbox.recover_expired(datetime.now(UTC), dead_owner=judge.is_gone)
            if released:
                log.warning("outbox: %d submission(s) left in flight by a previous process resumed", len(released))
        if self.send_enabled and self.settings.outbox.relay and not self._relay_threads:
            self._stop.clear()
            for n in range(self.settings.outbox.workers):
                relay = self.new_relay(f"w{n}")
                self._relay_threads.append(relay.start(self._stop, poll_interval=self.settings.outbox.poll_seconds))
            self._relay_threads.append(judge.watch(self.outbox, self._stop))

    def warm_up_full_validation(self) -> threading.Thread | None:
        """Compile the schematrons of ?validate=full in the background (struct-min and the CR-BIO volet, the
        facade's structured model) so the first full validation does not pay for it. None without a kit."""
        validator = self.converter.full_validator
        if validator is None:
            return None

        def warm() -> None:
            started = time.monotonic()
            try:
                validator.warm_up(WARM_DOC_TYPES)
            except Exception:  # a kit that cannot compile fails the same way on request, where it is reported
                log.exception("schematron warm-up failed")
                return
            log.info("schematrons compiled in %.1f s (?validate=full is warm)", time.monotonic() - started)

        thread = threading.Thread(target=warm, name="schematron-warm-up", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
        for thread in self._relay_threads:
            thread.join(timeout=10)
        self._relay_threads.clear()
        if "transport" in self.__dict__:
            self.transport.close()
        if "_service_transports" in self.__dict__:
            for transport in self._service_transports.values():
                transport.close()

    def health(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        out: dict[str, Any] = {"status": "ok", "sending": self.send_enabled}
        if self.send_enabled:
            out["certificates"] = {
                "auth": {
                    "subject": self.auth_credential.subject,
                    "days_to_expiry": days_to_expiry(self.auth_credential, now),
                },
                "sign": {
                    "subject": self.sign_credential.subject,
                    "days_to_expiry": days_to_expiry(self.sign_credential, now),
                },
            }
            out["outbox"] = {state.value: n for state, n in self.outbox.count_by_state().items()}
        return out

    @cached_property
    def metrics(self) -> Metrics:
        """Counters and histograms of this process (all workers' under ``serve --workers``), and the gauges read
        from the store and the credentials at each scrape."""
        return Metrics(site=self.settings.facility.finess_eg, state=self.metrics_state)

    def metrics_state(self) -> MetricsState:
        now = datetime.now(UTC)
        if not self.send_enabled:
            return MetricsState(now, False, None, None, {})
        counts: dict[str, int] | None
        try:
            counts = {state.value: n for state, n in self.outbox.count_by_state().items()}
            oldest = self.outbox.oldest_waiting_since()
        except Exception:  # any driver error: the store is down for this scrape (facade_outbox_store_up 0)
            counts, oldest = None, None
        expire = {
            "auth": self.auth_credential.certificate.not_valid_after_utc,
            "sign": self.sign_credential.certificate.not_valid_after_utc,
        }
        return MetricsState(now, True, counts, oldest, expire)

    def readiness(self) -> Readiness:
        """Observes (store, certificates, DMP reachability, backlog); ``facade.readiness.assess`` judges."""
        config = self.settings.readiness
        facts = Facts(now=datetime.now(UTC), sending=self.send_enabled)
        if self.send_enabled:
            store_error, backlog = None, None
            try:
                counts = self.outbox.count_by_state()
                backlog = counts.get(State.PENDING, 0) + counts.get(State.FAILED, 0)
            except Exception as exc:  # any driver error means the same thing here: the store cannot be read
                store_error = type(exc).__name__  # the class only: driver messages may carry hosts and users
            facts = replace(
                facts,
                store_error=store_error,
                backlog=backlog,
                certificates_expire={
                    "auth": self.auth_credential.certificate.not_valid_after_utc,
                    "sign": self.sign_credential.certificate.not_valid_after_utc,
                },
                reachability=self.dmp_reachability.snapshot(),
            )
        return assess(facts, dmp_unreachable_seconds=config.dmp_unreachable_seconds, max_backlog=config.max_backlog)


def owner_is_gone(owner: str) -> bool:
    """The fallback for a lease owner ``host:pid:...`` that holds no ownership lock (written before lock files, see
    facade.outbox.ownership): a previous process of this host, killed, or this very pid reused by a restart (pid 1
    in a container). A zombie counts as gone (it holds nothing any more). Owners on other hosts are never judged."""
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # at start-up no lease is ours yet: this pid's leases belong to a previous incarnation
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed child its parent has not reaped still answers ``kill(pid, 0)``: /proc says it is dead (state Z)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
