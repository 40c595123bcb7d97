"""Configuration: one TOML file, every key with a safe default, environment overrides.

The file is read once at start-up (``--config FILE`` or ``IGCDS_CONFIG``) and validated against
typed, frozen dataclasses: an unknown key or a wrong type stops start-up with a message naming the
key (``[fhir] timeout_s: expected a number, got 'fast'``). Applications add their own sections
(igcds adds ``[policy]``) by passing dataclass types to :func:`load_config`; this module knows
nothing about what those sections mean.

Environment overrides, for containers: ``IGCDS_<SECTION>__<KEY>=<TOML value>``, e.g.
``IGCDS_STORAGE__URL='"postgresql+psycopg://..."'`` or ``IGCDS_FHIR__DEADLINE_S=3``. A value that
is not valid TOML is taken as a plain string.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError

ENV_PREFIX = "IGCDS_"


@dataclass(frozen=True)
class ServerConfig:
    #: External base URL of this service (scheme, host, optional path prefix, no trailing slash).
    #: JWT ``aud`` is checked against it (``{public_base_url}/cds-services/{id}``).
    public_base_url: str = "http://127.0.0.1:8080"
    #: Largest request body accepted, in bytes (larger: 413).
    max_body_bytes: int = 1_048_576
    #: Origins allowed by CORS. ``["*"]`` lets any browser client (the CDS Hooks sandbox) call.
    cors_origins: tuple[str, ...] = ("*",)
    #: Directory for the SQLite database, the replay store and the generated audit salt.
    data_dir: str = "data"
    #: gunicorn worker processes for ``igcds serve`` (about two per core).
    workers: int = 4
    #: gunicorn threads per worker. 1 = sync workers, the fastest for calls that come with their
    #: prefetch (CPU-bound: no GIL shared between calls); more than 1 = gthread workers, which let a
    #: worker wait on several calls' FHIR fetches at once at ~20% more CPU per call
    #: (docs/performance.md "Worker model").
    threads: int = 1
    #: Operational endpoints served without a JWT. By default every endpoint except the health
    #: checks needs one; a deployment whose Prometheus scraper sits on a private network can open
    #: ``/metrics`` (and ``/openapi.json``) here. ``/readyz`` always answers its status without a
    #: token; listing it here opens its details (checks, counters) too.
    open_endpoints: tuple[Literal["/metrics", "/openapi.json", "/readyz"], ...] = ()
    #: A buffering reverse proxy (haproxy, nginx: deploy/haproxy/) stands in front of this server and
    #: holds slow clients, with header and body timeouts. ``igcds serve`` on a non-loopback address
    #: warns at start-up when this is false: sync workers serve one connection each, so a few
    #: clients that send slowly would hold all of them (docs/operations.md "Slow clients").
    behind_proxy: bool = False


@dataclass(frozen=True)
class ClientConfig:
    """One EHR (CDS client) trusted by this service (checked at start-up by ``auth.validate_auth_config``)."""

    #: The ``iss`` claim this client signs with (exact match).
    issuer: str
    #: Where the client's public keys are: a JWKS URL (https, or http on loopback) ...
    jwks_url: str | None = None
    #: ... or a JWKS file (relative paths: against the working directory). Exactly one of the two.
    jwks_file: str | None = None
    #: ``jku`` header values honoured for this client (exact URL match); any other ``jku`` is
    #: refused without being fetched.
    jku_allowlist: tuple[str, ...] = ()
    #: FHIR base URLs this client may send us to (``fhirServer``); the only places its
    #: ``fhirAuthorization`` token is ever sent.
    fhir_servers: tuple[str, ...] = ()
    #: When set, the token's ``tenant`` claim must equal it.
    tenant: str | None = None


@dataclass(frozen=True)
class AuthConfig:
    #: Signature algorithms accepted; asymmetric only (``none`` and HS* are always refused).
    algorithms: tuple[str, ...] = ("ES384", "RS384")
    #: Clock skew tolerated on ``exp``/``iat``, in seconds.
    leeway_s: int = 30
    #: Longest token lifetime accepted (``exp - iat``); ``jti`` values are kept this long.
    max_token_lifetime_s: int = 3600
    #: Replay store: ``sqlite`` (``replay.sqlite3`` in ``data_dir``, shared by all workers of one
    #: host) or a ``redis://`` / ``rediss://`` URL (shared by all hosts).
    replay_store: str = "sqlite"
    #: How long a fetched JWKS is trusted before it is fetched again, in seconds.
    jwks_cache_s: int = 3600
    #: Unknown ``kid`` refetches the JWKS at most this often per client, in seconds.
    jwks_min_refresh_s: int = 30
    #: The most one JWKS fetch may take, connect, headers and body together, in seconds.
    jwks_timeout_s: float = 2.0
    #: Largest JWKS document accepted, in bytes.
    jwks_max_bytes: int = 65_536


@dataclass(frozen=True)
class FhirConfig:
    #: Timeout of one FHIR query, in seconds.
    timeout_s: float = 2.0
    #: Budget for all FHIR work of one CDS call, in seconds.
    deadline_s: float = 4.0
    #: Pages followed through a searchset's ``next`` link (prefetch or fetched).
    max_pages: int = 5
    #: FHIR base URLs the service may call when no client registry applies (dev mode: the dev FHIR
    #: server; being on loopback is not enough).
    allowed_servers: tuple[str, ...] = ()
    #: Largest FHIR response accepted, in bytes.
    max_response_bytes: int = 8_388_608
    #: Parallel FHIR queries per call.
    max_parallel: int = 8
    #: FHIR queries in flight at once to one FHIR origin, per worker process. Each origin has its own
    #: fetch threads, so a slow FHIR server cannot take those of another; a query beyond this limit is
    #: refused at once (its prefetch key unavailable, 412 if required) rather than queued.
    max_parallel_per_origin: int = 32

    def __post_init__(self) -> None:
        if self.max_parallel_per_origin < 1:
            raise ConfigError(f"fhir.max_parallel_per_origin: expected 1 or more, got {self.max_parallel_per_origin}")


@dataclass(frozen=True)
class StorageConfig:
    #: SQLAlchemy URL. Relative SQLite paths are resolved against ``server.data_dir``'s parent
    #: (the working directory). PostgreSQL: ``postgresql+psycopg://user@host:port/db``.
    url: str = "sqlite:///data/igcds.db"
    #: Record every issued card (hashed patient id only) so feedback can be joined to it.
    audit: bool = True
    #: Salt for the patient-id hash (at least 32 bytes). Empty: a random salt is generated in
    #: ``data_dir`` (SQLite only: with PostgreSQL every instance must share one, so it is required).
    patient_hash_salt: str = ""
    #: Issued cards are spooled on local disk and written in batches by a background thread at most
    #: this often, in milliseconds (``cds_service.audit_buffer``). ``0``: written synchronously, in the
    #: call (then a database outage loses the audit of the calls it spans).
    audit_flush_ms: int = 200
    #: Largest number of calls waiting to be written, per worker process (spooled on disk while the
    #: database is down); when it is reached, new calls' cards are dropped (counted and logged)
    #: rather than slowing the answers down.
    audit_queue_max: int = 100_000
    #: Where the audit spool lives; empty: ``<data_dir>/audit-spool``. A local disk, one directory
    #: per instance (its processes share it and take over each other's files after a crash).
    audit_spool_dir: str = ""

    def __post_init__(self) -> None:
        if self.audit_flush_ms < 0:
            raise ConfigError(
                f"storage.audit_flush_ms: expected 0 or more milliseconds, got {self.audit_flush_ms}"
            )
        if self.audit_queue_max < 1:
            raise ConfigError(f"storage.audit_queue_max: expected 1 or more, got {self.audit_queue_max}")
        salt_bytes = len(self.patient_hash_salt.encode("utf-8"))
        if 0 < salt_bytes < 32:
            raise ConfigError(
                f"storage.patient_hash_salt: {salt_bytes} bytes is too short; use at least 32 random bytes "
                "(e.g. openssl rand -hex 32)")


@dataclass(frozen=True)
class LoggingConfig:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: One JSON object per line (production) or plain text.
    json: bool = True


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    clients: tuple[ClientConfig, ...] = ()
    auth: AuthConfig = field(default_factory=AuthConfig)
    fhir: FhirConfig = field(default_factory=FhirConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    #: Application sections (e.g. ``policy``), already validated into their dataclasses.
    sections: Mapping[str, Any] = field(default_factory=dict)
    #: Dev mode: JWT checks off; loopback peers and loopback browser origins only (``app``), FHIR
    #: servers from ``[fhir] allowed_servers`` only.
    dev: bool = False
    #: Where the configuration came from (for ``/readyz`` and logs).
    origin: str = "defaults"

    def section(self, name: str) -> Any:
        return self.sections[name]

    def with_changes(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


_CORE_SECTIONS: dict[str, Any] = {
    "server": ServerConfig,
    "clients": tuple[ClientConfig, ...],
    "auth": AuthConfig,
    "fhir": FhirConfig,
    "storage": StorageConfig,
    "logging": LoggingConfig,
}


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    app_sections: Mapping[str, type] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read, merge and validate the configuration.

    Order: embedded defaults < TOML file (``path`` or ``$IGCDS_CONFIG``) < environment
    (``IGCDS_SECTION__KEY``) < ``overrides`` (a nested mapping, used by tests and the CLI).
    """
    environ = os.environ if environ is None else environ
    app_sections = dict(app_sections or {})
    raw: dict[str, Any] = {}
    origin = "defaults"
    path = path or environ.get("IGCDS_CONFIG") or None
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"configuration file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from exc
        origin = str(path)
    _merge(raw, _env_overrides(environ))
    if overrides:
        _merge(raw, _plain(overrides))
    schema = {**_CORE_SECTIONS, **app_sections}
    unknown = sorted(set(raw) - set(schema) - {"dev"})
    if unknown:
        raise ConfigError(f"unknown configuration section {unknown[0]!r} (known: {', '.join(sorted(schema))})")
    values: dict[str, Any] = {}
    for name in _CORE_SECTIONS:
        if name in raw:
            values[name] = _coerce(raw[name], _CORE_SECTIONS[name], name)
    sections = {name: _coerce(raw.get(name, {}), kind, name) for name, kind in app_sections.items()}
    dev = _coerce(raw.get("dev", False), bool, "dev")
    return Config(**values, sections=sections, dev=dev, origin=origin)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _merge(into: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name or name == "IGCDS_CONFIG":
            continue
        section, key = name[len(ENV_PREFIX):].lower().split("__", 1)
        try:
            value: Any = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        out.setdefault(section, {})[key] = value
    return out


def _type_name(kind: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if kind in names:
        return names[kind]
    origin = typing.get_origin(kind)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(kind))
    if origin in (tuple, list):
        return "a list"
    if origin is dict or dataclasses.is_dataclass(kind):
        return "a table"
    return str(kind)


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``kind``; return it in its typed form."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        hints = typing.get_type_hints(kind)
        fields = {f.name: f for f in dataclasses.fields(kind) if f.init}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(fields))})")
        kwargs = {name: _coerce(value[name], hints[name], f"{where}.{name}") for name in fields if name in value}
        missing = [
            n for n, f in fields.items()
            if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise ConfigError(f"{where}: missing required key {missing[0]!r}")
        return typing.cast(Any, kind)(**kwargs)  # is_dataclass narrowed it to instance-or-class
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected {_type_name(kind)}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict or kind is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        val_kind = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(v, val_kind, f"{where}.{k}") for k, v in value.items()}
    if kind is Any:
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported configuration type {kind!r}")
