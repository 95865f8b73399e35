"""Settings: built in one place from FACADE_* environment variables (nested with "__") and an optional TOML file.

Library modules never import this; ``facade.runtime`` turns settings into objects. Unsafe values are refused here,
when the settings are built, all of them at once (e.g. a plain-http DMP URL, INS test OIDs or demo identifiers in
production, a lease shorter than one attempt); ``Runtime.check_startup`` adds only what needs files or keys.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, FilePath, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from facade.auth.certificate import parse_dn
from facade.model import oids
from facade.model.document import (
    OID_INS_NIA,
    OID_INS_NIR,
    OID_INS_NIR_DEMO,
    OID_INS_NIR_TEST,
    Code,
    FacilitySettings,
)

DEMO_OID_ARC = "1.2.250.1.999."  # the example arc of the demo defaults, never valid in production
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Shipped inside the package (wheel, sdist and editable installs alike): templates/ and examples/ are symlinks to the
# top-level templates/ and conformance/bundles/ folders, which stay the sources.
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_KIT = PROJECT_ROOT.parent / "shared" / "conformance-kit"

# GIE fiche PDT-INF-579v4 (spec digest §2.3): the four suites allowed for LPS access, OpenSSL names (TLS 1.2).
DMP_CIPHERS = ":".join(
    [
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
    ]
)


class FacilityConfig(BaseModel):
    """Facility rules: certificates belong to the legal entity (FINESS EJ); the geographic FINESS (EG) of the
    emitting site appears in the VIHF (Identifiant_Structure), the submission set and the CDA."""

    finess_ej: str = "120456789"
    finess_eg: str = "120459876"
    site_name: str = "CH de Démonstration - site principal"
    source_id: str = "1.2.250.1.999.1.1.1"  # XDS sourceId of this installation (replace with your own OID)
    oid_root: str = "1.2.250.1.999.1.1.1.1"  # root for generated document / submission unique ids
    sector_code: str = "SA01"  # TRE_R02 secteur d'activité (JDV_J61): SA01 = établissement public de santé
    sector_display: str = "Etablissement public de santé"
    practice_setting_code: str = "ETABLISSEMENT"  # JDV_J62
    practice_setting_display: str = "Etablissement de santé"
    ipp_oid: str | None = "1.2.250.1.999.1.1.1.2"  # assigning authority of the IPP (local patient ids)
    content_type_code: str = (
        "03"  # default SubmissionSet contentTypeCode (JDV_J59 / TRE_R209): hospitalisation complète
    )
    content_type_display: str = "Hospitalisation complète"
    # CDA author / legalAuthenticator organization and DocumentEntry authorInstitution: "site" (safe default) = always
    # this emitting site, identical to the SubmissionSet's (PFI over-constraint, spec digest §3.2); "bundle" = the
    # author's PractitionerRole.organization when it has a national structure id.
    author_institution: Literal["site", "bundle"] = "site"

    def to_model(self) -> FacilitySettings:
        return FacilitySettings(
            finess_ej=self.finess_ej,
            finess_eg=self.finess_eg,
            site_name=self.site_name,
            source_id=self.source_id,
            oid_root=self.oid_root,
            sector=Code(self.sector_code, oids.TRE_R02_SECTEUR_ACTIVITE, self.sector_display),
            practice_setting=Code(
                self.practice_setting_code, oids.TRE_A01_CADRE_EXERCICE, self.practice_setting_display
            ),
            ipp_oid=self.ipp_oid,
        )


class InputConfig(BaseModel):
    max_body_bytes: int = 20 * 1024 * 1024
    max_document_bytes: int = 10 * 1024 * 1024  # decoded document content
    max_json_depth: int = 64
    body_timeout_seconds: float = 30.0  # a client that stalls mid-body gets 408, not a hung worker
    header_timeout_seconds: float = 10.0  # request line + headers complete within this, else the connection is closed
    keep_alive_seconds: int = 5  # an idle keep-alive connection is closed after this
    max_connections: int = 256  # open connections + requests in progress per process; 503 beyond
    max_bytes_in_flight: int = 80 * 1024 * 1024  # request bodies in progress at once per process (4 × max_body_bytes)
    # Production accepts INS-NIR and INS-NIA only; test (4.10) and demo (4.11) OIDs must be enabled explicitly.
    accept_test_ins: bool = False
    # FR Core legacy identity status VALI (HL7 table 0445) is not "qualifiée": refused unless explicitly allowed.
    accept_legacy_vali: bool = False
    # A ready-made CDA (facade/fhir/validate.py InputPolicy says why each default is the safer reading):
    stylesheet_pi: Literal["warn", "refuse"] = "warn"  # a PI pointing at a separate stylesheet
    ins_trait_mismatch: Literal["warning", "error"] = "warning"  # NIR sex digit / birth month vs the traits
    ready_made_bytes: Literal["received", "canonical"] = "received"  # the bytes sent: as received, or their C14N

    def accepted_ins_oids(self) -> frozenset[str]:
        oids = {OID_INS_NIR, OID_INS_NIA}
        if self.accept_test_ins:
            oids |= {OID_INS_NIR_TEST, OID_INS_NIR_DEMO}
        return frozenset(oids)


class CredentialConfig(BaseModel):
    """One credential: PEM (cert + key [+ password]) or PKCS#12 (+ password), from files or base64 values."""

    cert: Path | None = None
    key: Path | None = None
    key_password: SecretStr | None = None
    p12: Path | None = None
    p12_base64: SecretStr | None = None
    p12_password: SecretStr | None = None
    p12_password_file: Path | None = None

    def configured(self) -> bool:
        return bool(self.cert or self.p12 or self.p12_base64)

    def password(self) -> bytes | None:
        if self.p12_password is not None:
            return self.p12_password.get_secret_value().encode()
        if self.p12_password_file is not None:
            return self.p12_password_file.read_bytes().strip()
        if self.key_password is not None:
            return self.key_password.get_secret_value().encode()
        return None


_TRANSACTIONS = frozenset({"TD0.2", "TD2.1", "TD3.1a", "TD3.1b", "TD3.2", "TD3.3a", "TD3.3b", "TD3.3c", "TD3.3d"})


class DmpConfig(BaseModel):
    repository_url: str = ""  # https://<host>/si-dmp-server/v2/services/repository
    # the other services; empty = the repository URL with its last segment replaced (.../registry, .../patients)
    registry_url: str = ""
    patients_url: str = ""
    ca_bundle: Path | None = None  # IGC-Santé CAs in production, the test CA in demo
    ciphers: str = DMP_CIPHERS
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    write_timeout: float = 60.0
    pool_timeout: float = 30.0  # waiting for a free connection (max_connections)
    max_connections: int = 4
    wsa_to: Literal["endpoint", "empty"] = "endpoint"
    auth: CredentialConfig = Field(default_factory=CredentialConfig)  # ORG AUTH_CLI (mutual TLS)
    sign: CredentialConfig = Field(default_factory=CredentialConfig)  # ORG SIGN (VIHF + XAdES)
    # UNCERTAIN (§4.2): SHA-256 for the XAdES lot signature is undocumented; the official samples use SHA-1
    xades_digest: Literal["sha1", "sha256"] = "sha1"
    vihf_signature: Literal["rsa-sha256", "rsa-sha1"] = "rsa-sha256"
    # UNCERTAIN (§1.2): GIE samples write "Authentification_mode", the ANS mapping/kit/DRIM "Authentification_Mode".
    vihf_mode_attribute: str = "Authentification_Mode"
    # opened by the DMP contract beyond the VIHF mode's rights (facade/dmp/rights.py), e.g. ["TD3.3d"]
    granted_transactions: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # PATCH on securityLabel (pdsm4dmp §3.3 item 3): "strict" (safer) refuses a result without the HL7 code (422);
    # "p4d": P4D's `replace /securityLabel/0` replaces the TRE_A07 flag (listed first) and keeps the HL7 code
    security_label_patch: Literal["strict", "p4d"] = "strict"
    # TD0.2 before every feeding: refuse (422 dmp-closed / dmp-absent) when the patient's DMP is closed or absent
    # (P4D: feeding needs an active DMP); a DMP that cannot be asked does not block the submission (the outbox keeps it)
    check_status_before_feeding: bool = False
    # TD3.2 (ITI-43): the DMP's repositoryUniqueId (spec §2.2, GIE TD3.1 response)
    repository_unique_id: str = "1.2.250.1.213.4.1.1.1.2"
    # TD0.2 -> Patient: base of the dmp-* extension URLs, seen only in a P4D page example (pdsm4dmp §6 [UNCERTAIN])
    status_extension_base: str = "https://interop.esante.gouv.fr/ig/fhir/dmp/StructureDefinition/"

    @field_validator("granted_transactions", mode="before")
    @classmethod
    def _granted(cls, value: Any) -> Any:
        items = _split(value, ",;\n")
        unknown = [v for v in items if v not in _TRANSACTIONS] if isinstance(items, list) else []
        if unknown:
            raise ValueError(f"unknown DMP transactions {unknown}; known: {sorted(_TRANSACTIONS)}")
        return items

    def attempt_budget(self) -> float:
        """Worst-case seconds one attempt can take: waiting for a connection, connecting, writing, reading."""
        return self.pool_timeout + self.connect_timeout + self.write_timeout + self.read_timeout


class VihfConfig(BaseModel):
    """What the VIHF says about the sending software and the person responsible for the automated processing."""

    subject_id: str = "DMP facade, automate d'alimentation, service informatique"
    name_id: str = ""  # PS_IdNat of the person responsible for the processing (defaults to the structure id)
    # AUTOMATE: the facade acts as an automated system (ANS automate strategy). author: the VIHF names the health
    # professional who authored the documents (PS_IdNat, profession + speciality; a médecin without one is a 422).
    role: Literal["AUTOMATE", "author"] = "AUTOMATE"
    lps_name: str = "DMP-FACADE"
    lps_version: str = "0.1.0"
    lps_homologation: str = "NON-HOMOLOGUE"  # LPS_ID_HOMOLOGATION_DMP, issued by the GIE SESAM-Vitale / CNAM
    lps_id: str | None = None
    # the VIHF Authentification_Mode: INDIRECTE (a structure certificate, the default and the digest's safer reading)
    # or INDIRECTE_RENFORCEE (AIR, more rights per GIE-606: facade/dmp/rights.py) [UNCERTAIN]
    auth_mode: Literal["INDIRECTE", "INDIRECTE_RENFORCEE"] = "INDIRECTE"


class OutboxConfig(BaseModel):
    """Delivery guarantees: retries with exponential backoff and full jitter up to a horizon, then dead letter."""

    retry_base_seconds: float = 5.0
    retry_factor: float = 2.0
    retry_max_delay_seconds: float = 900.0
    retry_horizon_seconds: float = 24 * 3600.0
    lease_seconds: float = 300.0  # must outlast connect + read timeouts of one attempt
    poll_seconds: float = 1.0
    relay: bool = True  # run the background relay in this process (retries and respond-async submissions)
    workers: int = 4  # background relay threads: one slow DMP answer must not stall every other delivery
    patient_hash_secret: SecretStr | None = None  # HMAC key for hashed INS in the store; generated under state_dir


class ReadinessConfig(BaseModel):
    """When GET /health/ready answers 503 (a load balancer then sends this instance nothing new); "off": never."""

    dmp_unreachable_seconds: float | None = 600.0  # every attempt failing in transport for this long
    max_backlog: int | None = 1000  # submissions waiting for delivery (pending + failed)

    @field_validator("dmp_unreachable_seconds", "max_backlog", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:  # "off" from an environment variable or TOML (neither has a null)
        return None if isinstance(value, str) and value.strip().lower() == "off" else value


def _split(value: Any, separators: str) -> Any:
    """Lists from one environment variable: a JSON list, or items separated by any of ``separators``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    for sep in separators[1:]:
        text = text.replace(sep, separators[0])
    return [item.strip() for item in text.split(separators[0]) if item.strip()]


class MtlsAuthConfig(BaseModel):
    """Clients present a certificate issued by ``client_ca`` (checked at the TLS handshake)."""

    client_ca: FilePath | None = None
    # optional allow-list; empty = every certificate from client_ca. Subjects as RFC 4514 DNs, ";"-separated in env.
    allowed_subjects: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allowed_ous: Annotated[list[str], NoDecode] = Field(default_factory=list)  # e.g. Struct_IdNat; "," separated

    @field_validator("allowed_subjects", mode="before")
    @classmethod
    def _subjects(cls, value: Any) -> Any:
        return _split(value, ";\n")

    @field_validator("allowed_subjects", mode="after")
    @classmethod
    def _parseable(cls, value: list[str]) -> list[str]:
        for dn in value:  # a typo in a DN must stop the start, not lock everyone out
            parse_dn(dn)
        return value

    @field_validator("allowed_ous", mode="before")
    @classmethod
    def _ous(cls, value: Any) -> Any:
        return _split(value, ",;\n")


JwtAlgorithm = Literal["RS256", "ES256"]
_JWT_ALGORITHMS: tuple[JwtAlgorithm, ...] = ("RS256", "ES256")


class OAuth2AuthConfig(BaseModel):
    """Bearer JWT access tokens validated locally against the authorization server's public keys."""

    issuer: str = ""
    audience: str = ""
    jwks_file: FilePath | None = None  # re-read on an unknown kid (key rotation)
    public_keys: Annotated[list[FilePath], NoDecode] = Field(default_factory=list)  # PEM public keys / certificates
    required_scopes: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["dmp.feed"])
    algorithms: Annotated[list[JwtAlgorithm], NoDecode] = Field(default_factory=lambda: list(_JWT_ALGORITHMS))
    leeway_seconds: int = Field(30, ge=0, le=300)

    @field_validator("public_keys", "required_scopes", "algorithms", mode="before")
    @classmethod
    def _words(cls, value: Any) -> Any:
        return _split(value, " ,\n")


class AuthConfig(BaseModel):
    """Authentication of the facade's own clients. Deny by default: production refuses to start without mtls or
    oauth2; ``none`` exists for environment=development only (and is its default there)."""

    mode: Literal["mtls", "oauth2", "none"] | None = None
    # Reading the audit trail and other clients' submissions: OAuth2 scope, or mTLS subject DNs (RFC 4514)
    audit_scope: str = "dmp.audit"
    audit_subjects: list[str] = Field(default_factory=list)
    # HTTPS for the facade's own API: required for mtls; for oauth2 unless TLS is terminated by a proxy in front
    server_cert: FilePath | None = None
    server_key: FilePath | None = None
    server_key_password: SecretStr | None = None
    tls_terminated_upstream: bool = False  # oauth2 in production without server_cert: must be stated explicitly
    allow_tls13: bool = True
    mtls: MtlsAuthConfig = Field(default_factory=MtlsAuthConfig)
    oauth2: OAuth2AuthConfig = Field(default_factory=OAuth2AuthConfig)

    def effective_mode(self, environment: str) -> Literal["mtls", "oauth2", "none"]:
        if self.mode is not None:
            return self.mode
        if environment == "development":
            return "none"
        raise ValueError("auth.mode is not set")

    def problems(self, environment: str) -> list[str]:
        """Why this configuration cannot serve (empty list: it can)."""
        if self.mode is None and environment != "development":
            return ["auth.mode must be mtls or oauth2 in production (FACADE_AUTH__MODE): the API is deny-by-default"]
        mode = self.effective_mode(environment)
        out: list[str] = []
        if mode == "none" and environment != "development":
            out.append("auth.mode=none is allowed only with environment=development")
        if (self.server_cert is None) != (self.server_key is None):
            out.append("auth.server_cert and auth.server_key go together")
        if mode == "mtls":
            if self.mtls.client_ca is None:
                out.append("auth.mode=mtls needs auth.mtls.client_ca (the CA that issues client certificates)")
            if self.server_cert is None:
                out.append("auth.mode=mtls needs auth.server_cert and auth.server_key (the facade serves HTTPS)")
        if mode == "oauth2":
            o = self.oauth2
            if not o.issuer or not o.audience:
                out.append("auth.mode=oauth2 needs auth.oauth2.issuer and auth.oauth2.audience")
            if o.jwks_file is None and not o.public_keys:
                out.append("auth.mode=oauth2 needs auth.oauth2.jwks_file or auth.oauth2.public_keys")
            if environment != "development" and self.server_cert is None and not self.tls_terminated_upstream:
                out.append(
                    "auth.mode=oauth2 in production needs HTTPS: auth.server_cert/server_key, or "
                    "auth.tls_terminated_upstream=true when a TLS proxy is in front"
                )
        return out


class LoggingConfig(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"
    access_log: bool = True
    trust_request_id: bool = True  # reuse a well-formed client X-Request-ID (else a new id per request)


class VisibilityConfig(BaseModel):
    """Visibility rules at submission (facade/mapping/visibility.py, spec digest lifecycle §5)."""

    # The DMP parameter allowing MASQUE_PS with INVISIBLE_PATIENT (rule EX_2.1-1050): set it only when your DMP
    # allows the combination; off (the DMP's default) such a document is refused before anything is built.
    allow_masked_and_invisible: bool = False
    # Each DocumentReference states its HL7 confidentiality code (N/R/V) in securityLabel: the explicit decision.
    # Always required for a minor's document, whatever this says.
    require_confidentiality_label: bool = True


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACADE_", env_nested_delimiter="__", extra="forbid")

    environment: Literal["development", "production"] = "production"
    base_url: str = ""  # public base of the FHIR endpoint, e.g. https://facade.example/fhir (every absolute URL)
    # without base_url: the names a request's Host may carry when absolute URLs are built from it (loopback only by
    # default, so a deployment under a public name must say which: FACADE_BASE_URL, or its names here)
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["localhost", "127.0.0.1", "::1"])
    state_dir: Path = Path(".facade")
    database_url: str = ""  # default: sqlite file under state_dir
    validation_kit: Path | None = None  # ANS conformance kit (XSD at runtime, schematron in $preview?validate=full)
    # compile the ?validate=full schematrons at start-up in a background thread (seconds of CPU, ~0.5 GB, and Saxon
    # holds the GIL meanwhile: the process answers nothing until it is done), instead of on the first such request
    validation_warm_up: bool = False
    templates_dir: Path = PACKAGE_DIR / "templates" / "cda"
    facility: FacilityConfig = Field(default_factory=FacilityConfig)
    input: InputConfig = Field(default_factory=InputConfig)
    visibility: VisibilityConfig = Field(default_factory=VisibilityConfig)
    dmp: DmpConfig = Field(default_factory=DmpConfig)
    vihf: VihfConfig = Field(default_factory=VihfConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    readiness: ReadinessConfig = Field(default_factory=ReadinessConfig)
    config_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        return _split(value, ",;")

    @field_validator("base_url", mode="after")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        refusals = self.refusals()
        if refusals:  # all of them at once: an operator fixes the configuration in one round
            raise ValueError("\n".join(refusals))  # one line each (facade serve prints them so)
        return self

    def refusals(self) -> list[str]:
        """Every unsafe or contradictory value, naming the setting to change (empty: these settings can serve).
        What needs files or keys (certificates, the validation kit) is checked by ``Runtime.check_startup``."""
        out: list[str] = []
        if self.base_url and not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", self.base_url):
            out.append(f"base_url must be an absolute http(s) URL without query or fragment (got {self.base_url!r})")
        url = self.dmp.repository_url
        for name in ("repository_url", "registry_url", "patients_url"):
            value = getattr(self.dmp, name)
            if value and not value.startswith("https://"):
                out.append(f"dmp.{name} must be https:// (got {value!r})")
        if self.environment == "production" and self.input.accept_test_ins:
            out.append("input.accept_test_ins (INS test/demo OIDs) is refused in production")
        out += self.auth.problems(self.environment)
        if url:
            out += self._sending_refusals()
        return out

    def _sending_refusals(self) -> list[str]:
        out: list[str] = []
        if self.environment == "production":
            if self.vihf.lps_homologation == VihfConfig().lps_homologation:
                out.append("FACADE_VIHF__LPS_HOMOLOGATION must be the DMP homologation number of this installation")
            if self.facility.source_id.startswith(DEMO_OID_ARC) or self.facility.oid_root.startswith(DEMO_OID_ARC):
                out.append(
                    "FACADE_FACILITY__SOURCE_ID and __OID_ROOT must be your own OIDs in production "
                    f"(not under the example arc {DEMO_OID_ARC})"
                )
            demo = FacilityConfig()
            if (self.facility.finess_ej, self.facility.finess_eg) == (demo.finess_ej, demo.finess_eg):
                out.append("FACADE_FACILITY__FINESS_EJ / __FINESS_EG still hold the demo values")
        if self.dmp.ca_bundle is None:
            out.append("FACADE_DMP__CA_BUNDLE (the DMP's CA certificates) is required")
        lease, budget = self.outbox.lease_seconds, self.dmp.attempt_budget()
        if lease <= budget:
            out.append(
                f"FACADE_OUTBOX__LEASE_SECONDS ({lease}) must exceed one attempt's worst case "
                f"({budget} s: pool + connect + write + read timeouts), or a slow attempt could be "
                "claimed and sent twice"
            )
        return out

    def resolved_kit(self) -> Path | None:
        if self.validation_kit is not None:
            return self.validation_kit
        return DEFAULT_KIT if (DEFAULT_KIT / "validate.py").is_file() else None

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.state_dir / 'facade.sqlite').resolve()}"


class _TomlSource(PydanticBaseSettingsSource):
    """Optional TOML config file named by FACADE_CONFIG_FILE (lowest priority: environment overrides it)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("FACADE_CONFIG_FILE")
        if not path:
            return {}
        with open(path, "rb") as fh:
            return tomllib.load(fh)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def variable_names(model: type[BaseModel] = Settings, prefix: str = "FACADE_") -> frozenset[str]:
    """Every environment variable that names a setting (nested groups with ``__``), upper case."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(f"{prefix}{name}".upper())
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= variable_names(annotation, f"{prefix}{name}__")
    return frozenset(names)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """``FACADE_*`` variables that name no setting: a typo (``FACADE_AUTH__MODEE=none``) would otherwise be ignored
    silently and the facade would run with the default it was meant to change."""
    known = variable_names()
    return sorted(name for name in environ if name.upper().startswith("FACADE_") and name.upper() not in known)
