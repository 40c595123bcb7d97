"""Clients' public keys: JWK Sets from a file or a URL, cached per process, looked up by ``kid``.

- A **file** is read at start-up (an unusable file stops start-up) and read again when its
  modification time changes and a token names a ``kid`` it does not have (key rotation by
  replacing the file, no restart).
- A **URL** (the client's ``jwks_url``, or an allowlisted ``jku``) is fetched on first use, the whole
  exchange (connect, headers, body) within ``[auth] jwks_timeout_s`` however the server drips its bytes
  (:func:`cds_service.bounded_http.bounded_get`, the FHIR client's mechanism: the fetch holds the client's
  key-set lock, so every call of that client waits for it), with no redirects, no proxies from the
  environment and a size limit. It is trusted for
  ``[auth] jwks_cache_s``; a token with an unknown ``kid`` triggers a refetch, at most once every
  ``[auth] jwks_min_refresh_s`` per URL (so a flood of made-up ``kid`` values cannot turn this service
  into a request amplifier). When a refetch fails, the keys already known stay in use and the
  failure is logged; the next attempt waits ``jwks_min_refresh_s``.

Only public, signature keys are kept: symmetric (``oct``) keys and keys with ``use`` other than
``sig`` are dropped, and private members (``d``, ``p``, ``q``, ...) are stripped on load, so private
key material never stays in memory even if a key-pair file is configured by mistake.

Nothing here decides which URL may be fetched: :mod:`cds_service.auth` only asks for a client's
configured ``jwks_url`` or a ``jku`` on that client's allowlist.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jwt import PyJWK
from jwt.exceptions import PyJWKError

from .bounded_http import Answer, Deadline, ExchangeError, bounded_get
from .errors import ConfigError

log = logging.getLogger("igcds.auth")

_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_KTY_FOR_ALG_PREFIX = {"ES": "EC", "RS": "RSA", "PS": "RSA", "Ed": "OKP"}
_CURVE_FOR_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "EdDSA": None}


class JwksError(Exception):
    """A JWK Set that cannot be used (fetch failed, not JSON, no usable key). Names no secret."""


def parse_jwks(document: Any, *, where: str) -> tuple[dict[str, dict[str, Any]], int]:
    """``{kid: public JWK}`` of the usable signature keys, and how many private parts were stripped."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JwksError(f"{where}: not a JWK Set (a JSON object with a 'keys' array)")
    keys: dict[str, dict[str, Any]] = {}
    stripped = 0
    for raw in document["keys"]:
        if not isinstance(raw, Mapping):
            continue
        kid = raw.get("kid")
        kty = raw.get("kty")
        if not isinstance(kid, str) or not kid or kty not in ("EC", "RSA", "OKP"):
            continue  # no kid: cannot be selected; oct: symmetric keys are never trusted
        if raw.get("use") not in (None, "sig"):
            continue
        public = {k: v for k, v in raw.items() if k not in _PRIVATE_MEMBERS}
        if len(public) != len(raw):
            stripped += 1
        try:
            PyJWK(dict(public))  # validates the key material (curve, modulus, ...)
        except (PyJWKError, ValueError, TypeError) as exc:
            log.warning("JWKS key skipped", extra={"event": "jwks_key_skipped", "kid": kid[:80],
                                                   "reason": f"{where}: {type(exc).__name__}"})
            continue
        keys.setdefault(kid, public)
    if not keys:
        raise JwksError(f"{where}: no usable public signature key (EC, RSA or OKP with a kid)")
    return keys, stripped


def key_for(jwk: Mapping[str, Any], alg: str) -> PyJWK:
    """A PyJWK bound to ``alg``; raises JwksError when the key cannot be used with that algorithm.

    PyJWT then refuses any token whose header ``alg`` differs from the key's algorithm, so a key
    can never be used with another algorithm family than its own (no algorithm confusion).
    """
    declared = jwk.get("alg")
    if declared is not None and declared != alg:
        raise JwksError(f"key is declared for {declared!r}, token says {alg!r}")
    expected_kty = _KTY_FOR_ALG_PREFIX.get(alg[:2])
    if expected_kty is None or jwk.get("kty") != expected_kty:
        raise JwksError(f"key type {jwk.get('kty')!r} cannot verify {alg}")
    if alg in _CURVE_FOR_ALG and _CURVE_FOR_ALG[alg] is not None and jwk.get("crv") != _CURVE_FOR_ALG[alg]:
        raise JwksError(f"curve {jwk.get('crv')!r} cannot verify {alg}")
    try:
        return PyJWK(dict(jwk), algorithm=alg)
    except (PyJWKError, ValueError, TypeError) as exc:
        raise JwksError(f"key unusable for {alg}: {type(exc).__name__}") from None


@dataclass
class _Entry:
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched_at: float | None = None  # last successful load
    attempted_at: float | None = None  # last attempt, successful or not
    mtime: float | None = None  # files only
    lock: threading.Lock = field(default_factory=threading.Lock)


class KeyStore:
    """Per-process cache of JWK Sets by source (``file:<path>`` or the URL)."""

    def __init__(
        self,
        *,
        cache_s: float = 3600.0,
        min_refresh_s: float = 30.0,
        timeout_s: float = 2.0,
        max_bytes: int = 65_536,
        clock: Callable[[], float] = time.monotonic,
        http_get: Callable[..., Answer] = bounded_get,
    ) -> None:
        self.cache_s = cache_s
        self.min_refresh_s = min_refresh_s
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.clock = clock
        self._http_get = http_get
        self._entries: dict[str, _Entry] = {}
        self._entries_lock = threading.Lock()
        #: Number of network fetches made (tests and metrics).
        self.fetches = 0

    # -- files ---------------------------------------------------------------------------------

    def preload_file(self, path: str) -> int:
        """Read a JWKS file at start-up; raises ConfigError if it is unusable. Returns the key count."""
        entry = self._entry(_file_source(path))
        try:
            self._load_file(entry, path)
        except JwksError as exc:
            raise ConfigError(str(exc)) from None
        return len(entry.keys)

    def file_key(self, path: str, kid: str) -> dict[str, Any] | None:
        entry = self._entry(_file_source(path))
        with entry.lock:
            if kid not in entry.keys:
                try:
                    if _mtime(path) != entry.mtime:
                        self._load_file(entry, path)
                except JwksError as exc:
                    log.warning("JWKS file reload failed; keeping the keys already loaded",
                                extra={"event": "jwks_reload_failed", "reason": str(exc)})
            return entry.keys.get(kid)

    def _load_file(self, entry: _Entry, path: str) -> None:
        where = f"jwks_file {path}"
        try:
            mtime = _mtime(path)
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise JwksError(f"{where}: cannot read: {type(exc).__name__}") from None
        keys, stripped = parse_jwks(document, where=where)
        if stripped:
            log.warning("JWKS file holds private key material; only the public parts are used. "
                        "Give this service the public keys only.",
                        extra={"event": "jwks_private_key", "path": path, "count": stripped})
        entry.keys, entry.mtime = keys, mtime
        entry.fetched_at = entry.attempted_at = self.clock()

    # -- URLs ----------------------------------------------------------------------------------

    def url_key(self, url: str, kid: str) -> dict[str, Any] | None:
        """The key ``kid`` of the JWK Set at ``url``, fetching or refreshing it as the policy allows."""
        entry = self._entry(url)
        with entry.lock:
            now = self.clock()
            stale = entry.fetched_at is None or now - entry.fetched_at >= self.cache_s
            if (stale or kid not in entry.keys) and self._may_fetch(entry, now):  # one fetch at most
                self._refresh(entry, url, now)
            return entry.keys.get(kid)

    def _may_fetch(self, entry: _Entry, now: float) -> bool:
        return entry.attempted_at is None or now - entry.attempted_at >= self.min_refresh_s

    def _refresh(self, entry: _Entry, url: str, now: float) -> None:
        entry.attempted_at = now
        try:
            keys, _ = parse_jwks(self._fetch(url), where=f"JWKS {url}")
        except JwksError as exc:
            log.warning("JWKS fetch failed; keeping the keys already known",
                        extra={"event": "jwks_fetch_failed", "reason": str(exc)[:300]})
            return
        added = sorted(set(keys) - set(entry.keys))
        entry.keys, entry.fetched_at = keys, now
        log.info("JWKS loaded", extra={"event": "jwks_loaded", "path": url, "count": len(keys),
                                       "keys": [k[:80] for k in added[:20]]})

    def _fetch(self, url: str) -> Any:
        self.fetches += 1
        try:
            answer = self._http_get(url, headers={"Accept": "application/json, application/jwk-set+json"},
                                    deadline=Deadline(self.timeout_s), timeout_s=self.timeout_s,
                                    max_bytes=self.max_bytes)
        except ExchangeError as exc:
            raise JwksError(f"JWKS {url}: {exc}") from None
        if answer.status != 200:
            raise JwksError(f"JWKS {url}: HTTP {answer.status}")
        try:
            return json.loads(answer.body)
        except ValueError:
            raise JwksError(f"JWKS {url}: not JSON") from None

    # -- shared --------------------------------------------------------------------------------

    def _entry(self, source: str) -> _Entry:
        with self._entries_lock:
            entry = self._entries.get(source)
            if entry is None:
                entry = self._entries[source] = _Entry()
            return entry


def _file_source(path: str) -> str:
    return "file:" + path


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime_ns / 1e9
    except OSError:
        return None

