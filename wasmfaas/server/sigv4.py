"""AWS Signature Version 4: verifying requests (the server) and signing them (the CLI's client).

Written from the SigV4 specification, for service "lambda" in any region:

    CanonicalRequest = Method LF CanonicalURI LF CanonicalQuery LF CanonicalHeaders LF LF SignedHeaders LF PayloadHash
    StringToSign     = "AWS4-HMAC-SHA256" LF Timestamp LF Date/Region/Service/aws4_request LF hex(SHA256(CanonReq))
    SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, Date), Region), Service), "aws4_request")
    Signature        = hex(HMAC(SigningKey, StringToSign))

- CanonicalURI: the path as sent (still percent-encoded), dot segments and empty segments removed, then
  percent-encoded once more ("/" and "~" kept): non-S3 services encode each segment twice.
- CanonicalQuery: each name and value decoded, re-encoded with RFC 3986's unreserved set, sorted by name then value.
  A client that signed the raw query text instead (some encode "+" differently) is accepted too.
- CanonicalHeaders: the signed headers, lower-cased, values trimmed with inner runs of spaces collapsed, repeated
  headers joined with ",", sorted. "host" must be signed.
- PayloadHash: the `x-amz-content-sha256` header if sent (then it must match the body, unless UNSIGNED-PAYLOAD),
  else SHA-256 of the body.

Both the `Authorization` header and presigned query parameters (`X-Amz-Signature`, `X-Amz-Expires`) are accepted.
Failures raise `SignatureError` carrying Lambda's error code: MissingAuthenticationTokenException (nothing signed),
UnrecognizedClientException (unknown access key) or InvalidSignatureException (anything else).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import quote, unquote, urlsplit

__all__ = ["Credentials", "SigV4Verifier", "SignatureError", "sign_request"]

ALGORITHM: Final = "AWS4-HMAC-SHA256"
SERVICE: Final = "lambda"
UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
_TIMESTAMP: Final = "%Y%m%dT%H%M%SZ"
_MAX_SKEW: Final = timedelta(minutes=5)  # AWS refuses a request signed more than 5 minutes from now
_MAX_EXPIRES: Final = 7 * 24 * 3600
_MISMATCH: Final = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(access_key_id={self.access_key_id!r}, secret_access_key='***')"


# A signature that cannot even be read (AWS's type for a malformed one; a wrong one is InvalidSignatureException).
_INCOMPLETE: Final = "IncompleteSignatureException"


class SignatureError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    return _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), date), region), service), "aws4_request")


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if out:
                out.pop()
        elif part and part != ".":
            out.append(part)
    if not out:
        return "/"
    return "/" + "/".join(out) + ("/" if path.endswith("/") else "")


def _has_dot_segment(raw_path: str) -> bool:
    return any(part in (".", "..") for part in raw_path.split("/"))


def canonical_uri(raw_path: str) -> str:
    return quote(_remove_dot_segments(raw_path), safe="/~")


def _pairs(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for item in raw_query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((name, value))
    return pairs


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    encoded = sorted((quote(unquote(n), safe="-_.~"), quote(unquote(v), safe="-_.~")) for n, v in pairs)
    return "&".join(f"{n}={v}" for n, v in encoded)


def _raw_query(pairs: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def canonical_headers(headers: dict[str, list[str]], signed: list[str]) -> str:
    lines = []
    for name in signed:
        values = headers.get(name)
        if values is None:
            raise SignatureError("InvalidSignatureException", f"The signed header {name!r} is not in the request.")
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}\n")
    return "".join(lines)


def string_to_sign(timestamp: str, scope: str, canonical_request: str) -> str:
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"


@dataclass(frozen=True, slots=True)
class _Parsed:
    access_key: str
    date: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    timestamp: str
    expires: int | None  # presigned requests only


@dataclass(frozen=True, slots=True)
class _Checked:
    """A request's signature fields and headers, checked for all but the signature (SigV4Verifier.check)."""

    parsed: _Parsed
    headers: dict[str, list[str]]
    query_pairs: list[tuple[str, str]]
    # The signature itself, when the request declared its payload hash (x-amz-content-sha256): checked on the
    # headers too, so only the body against that hash is left for `finish`.
    verified: bool = False


class SigV4Verifier:
    """Verify requests signed with one access key (the server's)."""

    def __init__(self, credentials: Credentials, service: str = SERVICE) -> None:
        self.credentials = credentials
        self.service = service
        self._keys: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def check(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Iterable[tuple[str, str]],
        *,
        now: datetime | None = None,
    ) -> _Checked:
        """What can be checked before the body is read: an unsigned or stale request, or one for another access
        key, costs the server nothing more than its headers; so does a forged signature when the request declares
        its payload hash (x-amz-content-sha256), which the signature then covers in place of the body."""
        header_map: dict[str, list[str]] = {}
        for name, value in headers:
            header_map.setdefault(name.lower(), []).append(value)
        pairs = _pairs(raw_query)
        query = {unquote(n): unquote(v) for n, v in pairs}
        authorization = header_map.get("authorization")
        if authorization:
            parsed = self._parse_header(authorization[0], header_map)
            query_pairs = pairs
        elif "X-Amz-Signature" in query:
            parsed = self._parse_query(query)
            query_pairs = [(n, v) for n, v in pairs if unquote(n) != "X-Amz-Signature"]
        else:
            raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
        if parsed.access_key != self.credentials.access_key_id:
            raise SignatureError(
                "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        self._check_scope(parsed)
        self._check_time(parsed, now or datetime.now(UTC))
        if "host" not in parsed.signed_headers:
            raise SignatureError("InvalidSignatureException", "The host header must be signed.")
        if _has_dot_segment(raw_path):
            # The signature covers the path with its dot segments removed, the router would dispatch the path as
            # sent: a request signed for one resource could act on another.
            raise SignatureError(
                "InvalidSignatureException", "The request path must not hold '.' or '..' segments; send it resolved."
            )
        declared = header_map.get("x-amz-content-sha256")
        if declared:
            # A forged signature is refused before a body of up to 50 MB is read (botocore sends no such header for
            # Lambda, so its requests are checked once their body is in; wasmfaas's own client sends one).
            self._check_signature(parsed, header_map, query_pairs, raw_path, method, declared[0].strip())
            return _Checked(parsed, header_map, query_pairs, verified=True)
        return _Checked(parsed, header_map, query_pairs)

    def verify(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        *,
        now: datetime | None = None,
    ) -> str:
        """Check a request's signature; return the access key id, or raise SignatureError."""
        return self.finish(method, raw_path, self.check(method, raw_path, raw_query, headers, now=now), body)

    def finish(self, method: str, raw_path: str, checked: _Checked, body: bytes) -> str:
        """The signature of a request `check` passed, over its body; return the access key id."""
        parsed, header_map = checked.parsed, checked.headers
        payload_hash = self._payload_hash(header_map, body)  # a declared hash must match the body
        if not checked.verified:
            self._check_signature(parsed, header_map, checked.query_pairs, raw_path, method, payload_hash)
        return parsed.access_key

    def _check_signature(
        self,
        parsed: _Parsed,
        header_map: dict[str, list[str]],
        query_pairs: list[tuple[str, str]],
        raw_path: str,
        method: str,
        payload_hash: str,
    ) -> None:
        scope = f"{parsed.date}/{parsed.region}/{parsed.service}/aws4_request"
        key = self._key(parsed.date, parsed.region)
        head = f"{method.upper()}\n{canonical_uri(raw_path)}\n"
        tail = (
            f"\n{canonical_headers(header_map, parsed.signed_headers)}\n{';'.join(parsed.signed_headers)}\n"
            f"{payload_hash}"
        )
        for query_text in (canonical_query(query_pairs), _raw_query(query_pairs)):
            expected = hmac.new(
                key, string_to_sign(parsed.timestamp, scope, head + query_text + tail).encode(), hashlib.sha256
            ).hexdigest()
            if hmac.compare_digest(expected, parsed.signature):
                return
        raise SignatureError("InvalidSignatureException", _MISMATCH)

    def _key(self, date: str, region: str) -> bytes:
        with self._lock:
            key = self._keys.get((date, region))
            if key is None:
                if len(self._keys) > 64:  # a day's key per region in use; old dates are never asked for again
                    self._keys.clear()
                key = self._keys[(date, region)] = signing_key(
                    self.credentials.secret_access_key, date, region, self.service
                )
            return key

    @staticmethod
    def _parse_header(value: str, headers: dict[str, list[str]]) -> _Parsed:
        algorithm, _, rest = value.strip().partition(" ")
        if algorithm != ALGORITHM:
            raise SignatureError(_INCOMPLETE, f"Unsupported authorization algorithm {algorithm!r}.")
        fields: dict[str, str] = {}
        for item in rest.split(","):
            name, eq, text = item.strip().partition("=")
            if eq:
                fields[name] = text
        missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in fields]
        if missing:
            raise SignatureError(_INCOMPLETE, f"Authorization header requires '{missing[0]}' parameter.")
        timestamp = (headers.get("x-amz-date") or [""])[0]
        if not timestamp and headers.get("date"):
            try:
                parsed_date = datetime.strptime(headers["date"][0], "%a, %d %b %Y %H:%M:%S GMT")
            except ValueError:
                raise SignatureError(_INCOMPLETE, "The Date header is malformed.") from None
            timestamp = parsed_date.strftime(_TIMESTAMP)
        return _SigV4Fields.build(fields["Credential"], fields["SignedHeaders"], fields["Signature"], timestamp, None)

    @staticmethod
    def _parse_query(query: dict[str, str]) -> _Parsed:
        if query.get("X-Amz-Algorithm") != ALGORITHM:
            raise SignatureError(_INCOMPLETE, "X-Amz-Algorithm must be AWS4-HMAC-SHA256.")
        try:
            expires = int(query.get("X-Amz-Expires", ""))
        except ValueError:
            raise SignatureError(_INCOMPLETE, "X-Amz-Expires must be a number of seconds.") from None
        if not 0 < expires <= _MAX_EXPIRES:
            raise SignatureError(_INCOMPLETE, f"X-Amz-Expires must be within 1 and {_MAX_EXPIRES}.")
        return _SigV4Fields.build(
            query.get("X-Amz-Credential", ""),
            query.get("X-Amz-SignedHeaders", ""),
            query.get("X-Amz-Signature", ""),
            query.get("X-Amz-Date", ""),
            expires,
        )

    def _check_scope(self, parsed: _Parsed) -> None:
        if parsed.service != self.service:
            raise SignatureError(
                "InvalidSignatureException", f"Credential should be scoped to correct service: '{self.service}'."
            )
        if not parsed.timestamp.startswith(parsed.date):
            raise SignatureError(
                "InvalidSignatureException",
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP",
            )

    @staticmethod
    def _check_time(parsed: _Parsed, now: datetime) -> None:
        try:
            signed_at = datetime.strptime(parsed.timestamp, _TIMESTAMP).replace(tzinfo=UTC)
        except ValueError:
            raise SignatureError(_INCOMPLETE, "X-Amz-Date must be YYYYMMDD'T'HHMMSS'Z'.") from None
        if parsed.expires is not None:
            if now > signed_at + timedelta(seconds=parsed.expires):
                raise SignatureError("InvalidSignatureException", "Signature expired: the presigned request expired.")
            if signed_at - now > _MAX_SKEW:
                raise SignatureError("InvalidSignatureException", "Signature not yet current.")
            return
        if abs(now - signed_at) > _MAX_SKEW:
            raise SignatureError(
                "InvalidSignatureException",
                f"Signature expired: {parsed.timestamp} is now earlier than "
                f"{(now - _MAX_SKEW).strftime(_TIMESTAMP)} ({now.strftime(_TIMESTAMP)} - 5 min.)"
                if signed_at < now
                else f"Signature not yet current: {parsed.timestamp} is still later than "
                f"{(now + _MAX_SKEW).strftime(_TIMESTAMP)} ({now.strftime(_TIMESTAMP)} + 5 min.)",
            )

    @staticmethod
    def _payload_hash(headers: dict[str, list[str]], body: bytes) -> str:
        actual = hashlib.sha256(body).hexdigest()
        declared = headers.get("x-amz-content-sha256")
        if not declared:
            return actual
        value = declared[0].strip()
        if value != UNSIGNED_PAYLOAD and value.lower() != actual:
            raise SignatureError(
                "InvalidSignatureException",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        return value


class _SigV4Fields:
    @staticmethod
    def build(credential: str, signed_headers: str, signature: str, timestamp: str, expires: int | None) -> _Parsed:
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
            raise SignatureError(
                _INCOMPLETE,
                "Credential must be ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request.",
            )
        if not timestamp:
            raise SignatureError(_INCOMPLETE, "The request must carry X-Amz-Date (or Date).")
        names = signed_headers.split(";")
        if not signed_headers or names != sorted(n.lower() for n in names):
            raise SignatureError(_INCOMPLETE, "SignedHeaders must be lower-case names, sorted.")
        return _Parsed(parts[0], parts[1], parts[2], parts[3], names, signature, timestamp, expires)


def sign_request(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    *,
    service: str = SERVICE,
    now: datetime | None = None,
) -> dict[str, str]:
    """Headers to send: `headers` plus Host, X-Amz-Date and Authorization. `url` must be percent-encoded already."""
    parts = urlsplit(url)
    timestamp = (now or datetime.now(UTC)).strftime(_TIMESTAMP)
    dropped = ("authorization", "x-amz-date", "host", "x-amz-content-sha256")
    out = {k: v for k, v in headers.items() if k.lower() not in dropped}
    out["Host"] = parts.netloc
    out["X-Amz-Date"] = timestamp
    payload_hash = hashlib.sha256(body).hexdigest()
    out["X-Amz-Content-Sha256"] = payload_hash  # signed: a server can check the signature before the body
    header_map: dict[str, list[str]] = {}
    for name, value in out.items():
        header_map.setdefault(name.lower(), []).append(value)
    signed = sorted(header_map)
    date = timestamp[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    canonical = (
        f"{method.upper()}\n{canonical_uri(parts.path or '/')}\n{canonical_query(_pairs(parts.query))}\n"
        f"{canonical_headers(header_map, signed)}\n{';'.join(signed)}\n{payload_hash}"
    )
    key = signing_key(credentials.secret_access_key, date, region, service)
    signature = hmac.new(key, string_to_sign(timestamp, scope, canonical).encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signature}"
    )
    return out
