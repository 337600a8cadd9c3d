"""What every downloader offers: move a list of (key, local path) pairs, report one outcome per key.

Downloaders only transfer bytes. Verification, file rounds and the atomic commit live in
:mod:`raycollect.shard`; what is retried and how often lives in :mod:`raycollect.downloaders.retry`.
An engine's ``transfer`` returns only when nothing it started is still writing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from raycollect import defaults
from raycollect.downloaders.retry import classify

if TYPE_CHECKING:
    from raycollect.config import WorkflowConfig

# Keys that reach a command file or a URL: archive-grammar characters only, no "..", no "//".
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=/-]{0,1023}")


def check_key(key: str) -> str:
    """``key`` if it is safe to hand to s5cmd, boto3 or a URL, else ValueError naming it."""
    if not _SAFE_KEY.fullmatch(key) or ".." in key or "//" in key:
        raise ValueError(f"unsafe object key {key!r}")
    return key


@dataclass(frozen=True)
class DownloaderSettings:
    """Everything an actor needs to build its downloader; plain data, cheap to ship to Ray."""

    bucket: str
    endpoint_url: str | None = None
    region: str = defaults.REGION
    workers: int = defaults.TRANSFERS_OTHER  # concurrent transfers inside one actor
    timeout_seconds: int = defaults.TIMEOUT_SECONDS
    enable_batch_mode: bool = defaults.ENABLE_BATCH_MODE
    part_size_mb: int = defaults.PART_SIZE_MB
    s5cmd_extra_args: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_config(cls, config: WorkflowConfig) -> DownloaderSettings:
        """Every value from the config (a WorkflowConfig): its defaults are the only ones."""
        return cls(bucket=config.bucket, endpoint_url=config.endpoint_url, region=config.region,
                   workers=config.transfers_per_actor, timeout_seconds=config.timeout_seconds,
                   enable_batch_mode=config.enable_batch_mode, part_size_mb=config.part_size_mb,
                   s5cmd_extra_args=tuple(config.s5cmd_extra_args))


@dataclass
class Outcome:
    """The result of moving one object."""

    ok: bool
    missing: bool = False  # 404 / NoSuchKey: the archive does not have it
    size: int = 0
    sha256: str | None = None  # set when the engine hashed while writing
    error: str | None = None
    transient: bool = False  # worth another round (reset, 5xx after the engine's own retries, timeout)
    etag: str | None = None  # what the GET answer said of the object (engines that see its headers)
    last_modified: dt.datetime | None = None

    def with_headers(self, etag: str | None, last_modified: Any) -> Outcome:
        """This outcome with the answer's ETag (quotes removed) and Last-Modified (an HTTP date or a datetime)."""
        self.etag = etag.strip('"') if etag else None
        self.last_modified = http_date(last_modified)
        return self

    @classmethod
    def failure(cls, exc: BaseException) -> Outcome:
        """The outcome of a transfer that raised ``exc``, classified by the retry policy."""
        verdict = classify(exc)
        text = f"{type(exc).__name__}: {exc}"[:500]
        if verdict == "terminal" and not _is_network_error(exc):
            text = f"internal error (please report): {text}"
        return cls(False, missing=verdict == "missing", error=text, transient=verdict == "transient")


def http_date(value: Any) -> dt.datetime | None:
    """A Last-Modified header (``Wed, 21 Oct 2015 07:28:00 GMT``) or a datetime, as an aware datetime (None: none
    or unreadable)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None


def _is_network_error(exc: BaseException) -> bool:
    return any(c.__module__.split(".")[0] in ("botocore", "urllib3", "http", "ssl", "socket")
               for c in type(exc).__mro__)


#: Called by an engine as each object arrives: (key, bytes). Progress only: never decides anything.
OnDone = Callable[[str, int], None]


class Downloader(Protocol):
    name: str

    def transfer(self, pairs: list[tuple[str, str]], on_done: OnDone | None = None) -> dict[str, Outcome]:
        """Download each ``(key, local_path)``; one Outcome per key, whatever happens."""
        ...

    def close(self) -> None: ...
