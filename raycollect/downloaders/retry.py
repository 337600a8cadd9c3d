"""Every retry decision of raycollect, in the order a request meets them, and the S3 client factory.

| step | constant | value | why |
|---|---|---|---|
| connect | ``CONNECT_TIMEOUT_S`` | 10 s | a refused or black-holed endpoint fails fast |
| one request | ``ENGINE_ATTEMPTS`` | 3 | in the engine: 503 SlowDown, 5xx, refused connections |
| between requests | ``ENGINE_BACKOFF_S`` | 0.25 s x 2**(n-1) | as urllib3's; a server's ``Retry-After`` wins, capped |
| one file | ``FILE_ATTEMPTS`` | 3 | shard rounds: resets, truncation, stalls, bad sidecars |
| a mismatch | ``MISMATCH_REFETCHES`` | 1 | bytes can be damaged in transit: fetch once more |
| one shard | ``SHARD_ATTEMPTS`` | 3 | its actor died: the shard goes to another actor |
| listing, preflight, upload | ``ENGINE_ATTEMPTS`` | 3 | the same botocore settings as downloads |

The engine count is handed to botocore (``standard`` mode, ``max_attempts``), urllib3 (``Retry``) and
s5cmd (``--retry-count``), so all engines retry alike; a file round is spent only on what they cannot
retry themselves (a body that breaks or stalls, a bad sidecar). ``timeout_seconds`` bounds one attempt
of one file.

Backoff between file rounds: ``BACKOFF_BASE_S * 2**(round - 1)``, capped at ``BACKOFF_CAP_S``, times a jitter
factor drawn from [0.5, 1.0) ("equal jitter": retries of many files spread out, none waits less than half).

Worst case for one file: ``SHARD_ATTEMPTS x (FILE_ATTEMPTS + MISMATCH_REFETCHES) x ENGINE_ATTEMPTS`` = 36
requests for its zip (and as many for its sidecar), each bounded by ``timeout_seconds``.

``classify`` is the one place that says what an error means: ``missing`` (404 / NoSuchKey), ``transient``
(429, 5xx, SlowDown, resets, truncated bodies, timeouts, refused connections) or ``terminal`` (the rest,
including bugs in raycollect itself, which no retry can fix).
"""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Callable
from typing import Any, Literal

CONNECT_TIMEOUT_S = 10.0
ENGINE_ATTEMPTS = 3
FILE_ATTEMPTS = 3
MISMATCH_REFETCHES = 1
SHARD_ATTEMPTS = 3
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
#: First wait between two requests of one file inside an engine (the curl engine; urllib3 uses the same).
ENGINE_BACKOFF_S = BACKOFF_BASE_S / 2
#: HTTP statuses worth another request: throttling and server-side trouble.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

Verdict = Literal["missing", "transient", "terminal"]

#: Exception type names (from any library) that mean "the network or the server had a blip".
_TRANSIENT_NAMES = frozenset({
    "ConnectionError", "ConnectionResetError", "ConnectionAbortedError", "ConnectionRefusedError",
    "BrokenPipeError", "TimeoutError", "timeout", "IncompleteRead", "ProtocolError", "ReadTimeoutError",
    "ConnectTimeoutError", "NewConnectionError", "MaxRetryError", "SSLError", "ReadTimeout", "ConnectTimeout",
    "EndpointConnectionError", "ConnectionClosedError", "ResponseStreamingError", "IncompleteReadError",
    "HTTPClientError", "ProxyConnectionError", "DecodeError", "RemoteDisconnected", "StallError",
})  # fmt: skip
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_TRANSIENT_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
                              "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable", "503", "500"})


def classify_status(status: int | None, code: str | None = None) -> Verdict:
    """What an HTTP answer means for a retry."""
    if status == 404 or (code or "") in _MISSING_CODES:
        return "missing"
    if status is None or status in RETRY_STATUSES or (code or "") in _TRANSIENT_CODES:
        return "transient"
    return "terminal"


#: libcurl's codes, by what they mean here (pycurl.E_*): a request that never reached the server (retried inside
#: the engine), a timeout, a failed write into our own file (the cause is local: a full disk, most often).
CURL_CONNECT_CODES = frozenset({6, 7})  # E_COULDNT_RESOLVE_HOST, E_COULDNT_CONNECT
CURL_TIMEOUT_CODE = 28  # E_OPERATION_TIMEDOUT
CURL_WRITE_CODE = 23  # E_WRITE_ERROR

CurlKind = Literal["connect", "timeout", "write", "transfer"]


def classify_curl(code: int, message: str) -> CurlKind:
    """What a libcurl error code means: ``connect`` (retry in the engine), ``timeout``, ``write`` (the local file
    could not take the bytes) or ``transfer`` (anything else on the way: a round of its own)."""
    if code in CURL_CONNECT_CODES:
        return "connect"
    if code == CURL_TIMEOUT_CODE:
        return "timeout"
    if code == CURL_WRITE_CODE:
        return "write"
    return "transfer"


def classify(exc: BaseException) -> Verdict:
    """What an exception raised by a transfer means for a retry."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        meta = response.get("ResponseMetadata", {}) or {}
        code = str((response.get("Error", {}) or {}).get("Code", ""))
        return classify_status(meta.get("HTTPStatusCode"), code)
    for cls in type(exc).__mro__:
        if cls.__name__ in _TRANSIENT_NAMES:
            return "transient"
    if isinstance(exc, OSError | socket.timeout) and not isinstance(exc, FileNotFoundError | PermissionError):
        # Network and disk blips; a missing or forbidden local path is our own setup, not a blip.
        return "transient"
    return "terminal"


def backoff(round_no: int, *, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before file round ``round_no`` (2, 3, ...): exponential, capped, equal jitter."""
    base = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, round_no - 2))
    return base * (0.5 + 0.5 * rng())


def engine_backoff(retry_no: int, *, retry_after: str | None = None,
                   rng: Callable[[], float] = random.random) -> float:
    """Seconds before request retry ``retry_no`` (1, 2, ...) inside an engine: ``ENGINE_BACKOFF_S * 2**(n-1)``
    with equal jitter, or the server's ``Retry-After`` (seconds), both capped at ``BACKOFF_CAP_S``."""
    if retry_after is not None and retry_after.strip().isdigit():
        return min(BACKOFF_CAP_S, float(retry_after.strip()))
    return min(BACKOFF_CAP_S, ENGINE_BACKOFF_S * 2 ** max(0, retry_no - 1)) * (0.5 + 0.5 * rng())


def botocore_config(*, anonymous: bool, read_timeout: float, pool: int = 10,
                    connect_timeout: float = CONNECT_TIMEOUT_S) -> Any:
    """The botocore Config every raycollect S3 client uses: ``standard`` retries, not ``adaptive``.

    ``adaptive`` adds a client-side rate limiter shared by every thread of the client: one burst of 503
    SlowDown throttles all 32 workers of an actor for the rest of the shard (measured: 52% of files failed
    under 10% SlowDown). ``standard`` retries each request on its own with jittered backoff.
    """
    from botocore import UNSIGNED
    from botocore.config import Config

    kw: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": ENGINE_ATTEMPTS},
        "connect_timeout": connect_timeout,
        "read_timeout": read_timeout,
        "max_pool_connections": pool,
    }
    if anonymous:
        kw["signature_version"] = UNSIGNED
    return Config(**kw)


_anonymous_session: Any = None
_session_lock = threading.Lock()


def s3_client(*, endpoint_url: str | None, region: str | None, anonymous: bool, read_timeout: float = 60.0,
              pool: int = 10, connect_timeout: float = CONNECT_TIMEOUT_S) -> Any:
    """A boto3 S3 client with the policy above (anonymous for the public archive).

    Anonymous clients come from one boto3 session per process: it keeps the S3 service model it loaded, so a
    driver's second client (preflight, then discovery) costs about 0.004 s, not 0.08-0.16 s. Signed clients get
    a session of their own, so credentials are resolved as they are when the client is made. Sessions are not
    thread-safe: clients are made under a lock (the clients themselves are thread-safe)."""
    global _anonymous_session
    import boto3

    config = botocore_config(anonymous=anonymous, read_timeout=read_timeout, pool=pool,
                             connect_timeout=connect_timeout)
    if not anonymous:
        return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
    with _session_lock:
        if _anonymous_session is None:
            _anonymous_session = boto3.session.Session()
        return _anonymous_session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def urllib3_retry() -> Any:
    """urllib3's Retry for the http engine: statuses and connect errors only; reads are the shard's.

    A reset or a stall while reading is not retried here (``read=0``): the file round retries it after a
    backoff, so one attempt of one file is bounded by ``timeout_seconds`` and counted in ``attempts``.
    """
    import urllib3

    n = ENGINE_ATTEMPTS - 1
    return urllib3.Retry(total=n, connect=n, status=n, read=0, other=0, backoff_factor=ENGINE_BACKOFF_S,
                         backoff_jitter=ENGINE_BACKOFF_S, status_forcelist=RETRY_STATUSES,
                         allowed_methods=frozenset({"GET", "HEAD"}), raise_on_status=False,
                         respect_retry_after_header=True)


def s5cmd_retry_args() -> list[str]:
    """s5cmd's own retries (its default of 10 hides a refused endpoint for minutes)."""
    return ["--retry-count", str(ENGINE_ATTEMPTS - 1)]
