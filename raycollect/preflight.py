"""Preflight: before anything is downloaded or Ray is started, the source and destinations must work.

- The source answers like S3: one small anonymous listing of the bucket (retry policy applied, short
  timeouts, so a dead endpoint is reported in seconds rather than after ``timeout_seconds``).
- The output and manifest directories (or bucket) take a probe written and removed.
Each failure is a ConfigurationError (exit 2): one line naming the endpoint or path and the cause.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from raycollect.errors import ConfigurationError

if TYPE_CHECKING:
    from raycollect.manifest.store import ManifestStore
    from raycollect.storage import BaseStorage

#: Short on purpose: a healthy endpoint answers a one-key listing in milliseconds; 3 attempts of these
#: bound a black-holed endpoint to well under 30 s.
PREFLIGHT_CONNECT_S = 4.0
PREFLIGHT_READ_S = 6.0


def source_name(endpoint_url: str | None, bucket: str, region: str) -> str:
    return f"{endpoint_url or f'https://s3.{region}.amazonaws.com'} (bucket {bucket})"


def check_source(bucket: str, endpoint_url: str | None, region: str) -> None:
    """One listing of ``data/`` with MaxKeys=1; ConfigurationError unless it is a valid S3 answer."""
    from botocore.exceptions import BotoCoreError, ClientError

    from raycollect.downloaders.retry import s3_client

    client = s3_client(endpoint_url=endpoint_url, region=region, anonymous=True, read_timeout=PREFLIGHT_READ_S,
                       connect_timeout=PREFLIGHT_CONNECT_S)
    where = source_name(endpoint_url, bucket, region)
    try:
        answer = client.list_objects_v2(Bucket=bucket, Prefix="data/", Delimiter="/", MaxKeys=1)
    except (ClientError, BotoCoreError) as exc:
        raise ConfigurationError(f"Source {where} is not usable: {describe_aws_error(exc)}; "
                                 "check endpoint_url (or --endpoint-url) and bucket") from None
    check_listing_answer(answer, where)


def check_listing_answer(answer: dict[str, Any], where: str) -> None:
    """A parsed ListObjects answer that lacks the bucket name was not S3 XML (an HTML page, a proxy)."""
    if "Name" not in answer:
        raise ConfigurationError(f"Source {where} is not usable: its answer to a listing is not S3 XML (an HTML "
                                 "page or another service?); check endpoint_url (or --endpoint-url)")


def describe_aws_error(exc: BaseException) -> str:
    """The cause of a botocore error in a few words: refused, DNS, TLS, timeout, HTML, 403, ..."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {}) or {}
        status = (response.get("ResponseMetadata", {}) or {}).get("HTTPStatusCode")
        code = str(err.get("Code") or status)
        if status == 403 or code in ("AccessDenied", "403"):
            return f"access denied (HTTP 403 {code}): the bucket does not allow anonymous reads"
        if code == "NoSuchBucket":
            return "no such bucket at this endpoint (HTTP 404 NoSuchBucket)"
        return f"HTTP {status} {code}: {err.get('Message') or 'no message'}"
    text = _chain_text(exc)
    name = type(exc).__name__
    if "ResponseParserError" in name or "Unable to parse" in text or "invalid XML" in text:
        return "its answer is not S3 XML (an HTML page or another service?)"
    if "refused" in text.lower():
        return "connection refused"
    if any(s in text for s in ("Name or service not known", "nodename nor servname", "Temporary failure in name",
                               "No address associated", "getaddrinfo failed")):
        return "DNS lookup failed (no such host)"
    if "SSL" in name or "SSL" in text or "certificate" in text.lower():
        reason = re.search(r"\[SSL: ([A-Z_]+)\]|(certificate verify failed[^(\]]*)", text)
        detail = (reason.group(1) or reason.group(2)).strip() if reason else "see --debug"
        return f"TLS handshake failed ({detail})"
    if "timed out" in text.lower() or "Timeout" in name:
        return "connection timed out"
    return f"{name}: {text.splitlines()[0][:200] if text else 'no detail'}"


def _chain_text(exc: BaseException) -> str:
    parts: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts.append(f"{type(cur).__name__}: {cur}")
        nested = getattr(cur, "kwargs", {}).get("error") if isinstance(getattr(cur, "kwargs", None), dict) else None
        cur = nested if isinstance(nested, BaseException) else (cur.__cause__ or cur.__context__)
    return " | ".join(parts)


def check_destinations(storage: BaseStorage, manifests: ManifestStore) -> None:
    """Output (directory or bucket) and manifest directory (or prefix) are writable, or ConfigurationError."""
    storage.probe()
    manifests.probe()
