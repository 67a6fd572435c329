"""Optional trusted time for checkpoints: an RFC 3161 timestamp over the signed note.

Our own clock proves nothing to a sceptic; a time-stamping authority (TSA) signs "this hash
existed at time T". We send SHA-256 of the whole signed checkpoint (body and signature) with a
fresh nonce, check the reply answers *our* request, and store the DER ``TimeStampResp``
beside the checkpoint. Parsing and signature checks use ``rfc3161-client`` (Trail of Bits).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import httpx
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

MAX_RESPONSE = 256 * 1024
TIMEOUT_S = 15.0


class TSAError(RuntimeError):
    """The TSA could not be reached, refused, or answered something that is not our stamp."""


def timestamp(data: bytes, url: str, timeout: float = TIMEOUT_S) -> bytes:
    """Ask the TSA at ``url`` to timestamp ``data``; return the DER response, checked."""
    request = (TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256)
               .nonce(nonce=True)
               .cert_request(cert_request=True).build())
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client, client.stream(
                "POST", url, content=request.as_bytes(),
                headers={"Content-Type": "application/timestamp-query"}) as response:
            if response.status_code != 200:
                raise TSAError(f"TSA {url} answered HTTP {response.status_code}")
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE:
                    raise TSAError(f"TSA {url} answer exceeds {MAX_RESPONSE} bytes")
    except httpx.HTTPError as exc:
        raise TSAError(f"TSA {url}: {exc}") from exc
    check_token(body, data, nonce=request.nonce)
    return body


def check_token(token: bytes, data: bytes, nonce: int | None = None) -> datetime:
    """Check that ``token`` is a granted timestamp over SHA-256(``data``); return its time.

    This checks what the token *says*; :func:`verify_token_chain` also checks who signed it.
    """
    try:
        response = decode_timestamp_response(token)
    except ValueError as exc:
        raise TSAError(f"not an RFC 3161 response: {exc}") from exc
    if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise TSAError(f"TSA refused: status {response.status} {response.status_string}")
    info = response.tst_info
    if info.message_imprint.message != hashlib.sha256(data).digest():
        raise TSAError("timestamp is over a different message")
    if nonce is not None and info.nonce != nonce:
        raise TSAError("timestamp nonce does not match our request")
    return info.gen_time


def verify_token_chain(token: bytes, data: bytes, root_pem: Path | bytes) -> datetime:
    """Full check: the token's signature chains to the TSA root certificate given."""
    pem = root_pem.read_bytes() if isinstance(root_pem, Path) else root_pem
    root = x509.load_pem_x509_certificate(pem)
    response = decode_timestamp_response(token)
    try:
        VerifierBuilder().add_root_certificate(root).build().verify_message(response, data)
    except VerificationError as exc:
        raise TSAError(f"timestamp signature: {exc}") from exc
    return response.tst_info.gen_time
