"""Signing keys and CDS Hooks client JWTs for tests (real ES384 / RS384 key pairs, made per run).

``mint(key, iss=..., aud=...)`` signs a token the way a CDS client does (header ``alg``, ``typ``,
``kid``, optional ``jku``; claims ``iss``, ``aud``, ``exp``, ``iat``, ``jti``); keyword arguments
change or drop (``None``) any header field or claim, so each refusal test changes one thing.
``hs256_with_public_key`` and ``unsigned`` craft the two classic attacks by hand (PyJWT refuses to).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

_OMIT = object()


@dataclass(frozen=True)
class SigningKey:
    alg: str
    kid: str
    private_key: Any

    @property
    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        algo = ECAlgorithm if self.alg.startswith("ES") else RSAAlgorithm
        jwk = algo.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.alg}

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def new_key(alg: str = "ES384", kid: str | None = None) -> SigningKey:
    if alg == "ES384":
        private = ec.generate_private_key(ec.SECP384R1())
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg in ("RS384", "RS256", "PS384"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise ValueError(alg)
    return SigningKey(alg, kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}", private)


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [k.public_jwk for k in keys]}


def claims(iss: str | None, aud: Any, *, lifetime: int = 300, now: float | None = None, **changes: Any) -> dict[str, Any]:
    now = int(time.time() if now is None else now)
    out: dict[str, Any] = {"iss": iss, "aud": aud, "iat": now, "exp": now + lifetime, "jti": str(uuid.uuid4())}
    out = {k: v for k, v in out.items() if v is not None}  # iss=None / aud=None: leave the claim out
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def mint(key: SigningKey, *, iss: str | None, aud: Any, alg: str | None = None, kid: Any = _OMIT, typ: Any = "JWT",
         jku: str | None = None, header: dict[str, Any] | None = None, lifetime: int = 300,
         **claim_changes: Any) -> str:
    headers: dict[str, Any] = {"typ": typ, "kid": key.kid if kid is _OMIT else kid}
    if jku:
        headers["jku"] = jku
    headers.update(header or {})
    headers = {k: v for k, v in headers.items() if v is not None or k == "typ"}  # typ None: PyJWT drops it
    payload = claims(iss, aud, lifetime=lifetime, **claim_changes)
    return jwt.encode(payload, key.private_key, algorithm=alg or key.alg, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return _b64(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        _b64(json.dumps(payload, separators=(",", ":")).encode())


def hs256_with_public_key(key: SigningKey, *, iss: str, aud: Any, **claim_changes: Any) -> str:
    """Algorithm confusion: HMAC-SHA256 keyed with the client's *public* key (PEM), kid of that key."""
    signing_input = _segments({"alg": "HS256", "typ": "JWT", "kid": key.kid}, claims(iss, aud, **claim_changes))
    mac = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(mac)


def unsigned(key: SigningKey, *, iss: str, aud: Any, **claim_changes: Any) -> str:
    """``alg: none`` with an empty signature."""
    return _segments({"alg": "none", "typ": "JWT", "kid": key.kid}, claims(iss, aud, **claim_changes)) + "."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
