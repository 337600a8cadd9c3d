"""The retry policy, specified: what is retried, how long the waits are, what the engines are told."""


import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from urllib3.exceptions import ProtocolError

from raycollect.downloaders import retry
from raycollect.downloaders.base import Outcome


def client_error(status: int, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "GetObject")


@pytest.mark.parametrize(("exc", "verdict"), [
    (client_error(404, "NoSuchKey"), "missing"),
    (client_error(503, "SlowDown"), "transient"),
    (client_error(500, "InternalError"), "transient"),
    (client_error(429, "TooManyRequests"), "transient"),
    (client_error(403, "AccessDenied"), "terminal"),
    (client_error(400, "InvalidArgument"), "terminal"),
    (ConnectionResetError(104, "Connection reset by peer"), "transient"),
    (ProtocolError("Connection broken: IncompleteRead(10 bytes read, 90 more expected)"), "transient"),
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "transient"),
    (ReadTimeoutError(endpoint_url="http://x"), "transient"),
    (TimeoutError("timed out"), "transient"),
    (TimeoutError("stalled"), "transient"),
    (FileNotFoundError("/staging/gone"), "terminal"),
    (PermissionError("read-only"), "terminal"),
    (TypeError("a bug of ours"), "terminal"),
    (KeyError("Body"), "terminal"),
])  # fmt: skip
def test_classify(exc, verdict):
    assert retry.classify(exc) == verdict


@pytest.mark.parametrize(("status", "verdict"), [(404, "missing"), (503, "transient"), (502, "transient"),
                                                 (504, "transient"), (403, "terminal"), (301, "terminal"),
                                                 (None, "transient")])
def test_classify_status(status, verdict):
    assert retry.classify_status(status) == verdict


def test_our_own_bugs_are_terminal_and_say_so():
    out = Outcome.failure(TypeError("unsupported operand"))
    assert (out.ok, out.transient, out.missing) == (False, False, False)
    assert out.error == "internal error (please report): TypeError: unsupported operand"
    blip = Outcome.failure(ConnectionResetError(104, "Connection reset by peer"))
    assert blip.transient and blip.error == "ConnectionResetError: [Errno 104] Connection reset by peer"


def test_backoff_delays_exact_with_a_fixed_jitter():
    # Round 2 waits the base, then doubling, capped; jitter factor 0.5 + 0.5 * rng().
    assert [retry.backoff(n, rng=lambda: 1.0) for n in range(2, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert [retry.backoff(n, rng=lambda: 0.0) for n in (2, 3, 4)] == [0.25, 0.5, 1.0]
    assert retry.backoff(3, rng=lambda: 0.5) == 0.75


def test_engines_are_told_the_same_attempt_count():
    cfg = retry.botocore_config(anonymous=True, read_timeout=20)
    assert cfg.retries == {"mode": "standard", "max_attempts": retry.ENGINE_ATTEMPTS}
    assert (cfg.connect_timeout, cfg.read_timeout) == (retry.CONNECT_TIMEOUT_S, 20)
    r = retry.urllib3_retry()
    assert (r.total, r.connect, r.status, r.read) == (retry.ENGINE_ATTEMPTS - 1,) * 3 + (0,)
    assert set(r.status_forcelist) == {429, 500, 502, 503, 504}
    assert retry.s5cmd_retry_args() == ["--retry-count", str(retry.ENGINE_ATTEMPTS - 1)]


def test_worst_case_is_bounded_as_documented():
    per_file = retry.SHARD_ATTEMPTS * (retry.FILE_ATTEMPTS + retry.MISMATCH_REFETCHES) * retry.ENGINE_ATTEMPTS
    assert per_file == 36
    assert "36" in retry.__doc__


def test_engine_backoff_delays_exact_and_retry_after_wins_up_to_the_cap():
    # Retry n waits ENGINE_BACKOFF_S * 2**(n-1) times the jitter factor 0.5 + 0.5 * rng().
    assert [retry.engine_backoff(n, rng=lambda: 1.0) for n in (1, 2, 3)] == [0.25, 0.5, 1.0]
    assert [retry.engine_backoff(n, rng=lambda: 0.0) for n in (1, 2, 3)] == [0.125, 0.25, 0.5]
    assert retry.engine_backoff(1, retry_after="3", rng=lambda: 0.0) == 3.0
    assert retry.engine_backoff(1, retry_after="600") == retry.BACKOFF_CAP_S
    assert retry.engine_backoff(1, retry_after="Wed, 21 Oct 2015 07:28:00 GMT", rng=lambda: 1.0) == 0.25
