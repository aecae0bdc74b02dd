"""SHAKEN PASSporTs as a carrier's signer makes them (RFC 8225, RFC 8588): ES256 over the JSON header and
claims, in an Identity header pointing at the signer's certificate (x5u). For tests only: any key, any claims."""

from __future__ import annotations

import base64
import json
import time
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_private_key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def identity(key_pem: bytes, x5u: str, orig: str, dest: str, attest: str = "A", iat: int | None = None) -> str:
    """The Identity header's value for a call from `orig` to `dest` (E.164, with or without '+')."""
    key = load_pem_private_key(key_pem, None)
    head = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": x5u}
    claims = {"attest": attest, "dest": {"tn": [dest.lstrip("+")]}, "iat": int(time.time()) if iat is None else iat,
              "orig": {"tn": orig.lstrip("+")}, "origid": str(uuid.uuid4())}
    signing = f"{_b64(json.dumps(head, separators=(',', ':')).encode())}." \
              f"{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    r, s = decode_dss_signature(key.sign(signing.encode(), ec.ECDSA(hashes.SHA256())))
    signature = _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return f"{signing}.{signature};info=<{x5u}>;alg=ES256;ppt=shaken"
