"""curl engine (the default): every transfer of an actor in one libcurl multi loop (pycurl).

Why this engine: libcurl speaks HTTP in C and releases the GIL while it waits, so Python code runs only once
per request (start, headers, finish): libcurl writes the body into a raw file object, and the digest is read
back from the page cache when the object (or a part of it) is complete. No thread and no process per file,
no HEAD before a GET, the zip and its sidecar in flight together. On this project's 2-core machine it is the
only engine faster than raw ``s5cmd cp`` while verifying every file (docs/performance.md).

- Anonymous path-style GETs, like the http engine: the public archive, or an open mirror.
- Retries (raycollect.downloaders.retry): ``ENGINE_ATTEMPTS`` per request for ``RETRY_STATUSES`` and failed
  connections, with ``engine_backoff`` (``Retry-After`` respected up to its cap); a body that breaks, is cut
  short or outlasts ``timeout_seconds`` is a transient outcome: the shard's next round.
- Large objects: the first GET of every object asks for its first ``PART_BYTES`` (a Range); when the answer's
  Content-Range says there is more, the other parts are fetched in parallel (``PARTS_IN_FLIGHT`` per object,
  each with ``If-Match`` on the first answer's ETag, so a file replaced mid-download cannot be stitched from
  two versions), written at their offsets, and hashed in order on one hashing thread as the contiguous
  prefix grows, including the part still arriving at its end (every ``PROGRESS_HASH_BYTES``): the digest is
  ready moments after the last byte lands. Only a 200/206 answer's body is hashed, never an error's.
- ``transfer`` returns only when no request it started can still write and no hash is pending.
"""

from __future__ import annotations

import errno
import hashlib
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import quote

import pycurl

from raycollect.downloaders.base import DownloaderSettings, OnDone, Outcome, check_key
from raycollect.downloaders.retry import (
    CONNECT_TIMEOUT_S,
    ENGINE_ATTEMPTS,
    RETRY_STATUSES,
    classify_curl,
    classify_status,
    engine_backoff,
)

#: First request of every object, and the size of every further part. 32 MiB: objects below it (nearly all of
#: the archive) take one request; a 1 GB monthly trades file is 30 parts, 8 of them in flight. Measured here on
#: 1 GB: 8 MiB parts cost the server 30% more CPU (more requests) for no gain; 64 MiB parts fewer in flight.
PART_BYTES = 32 << 20
#: Parts of one object in flight at once (the others wait their turn in the same loop).
PARTS_IN_FLIGHT = 8
#: Receive buffer: fewer, larger reads from the socket per large object (libcurl's default is 16 KiB; it still
#: hands the file at most 16 KiB per write).
BUFFER_BYTES = 256 << 10
#: Read size when hashing a downloaded part back from the page cache (one buffer, reused).
HASH_READ_BYTES = 1 << 20
#: Objects up to this size are hashed on the loop thread when complete; larger ones on the hashing thread.
INLINE_HASH_BYTES = 1 << 20
#: A body arriving at the object's hashed prefix is hashed while it arrives, whenever this much more of it is
#: in the file (checked at most every ``PROGRESS_HASH_SECONDS``): 40 x 25 MB complete together, and hashing
#: each only when complete left a second of hashing after the last byte on one thread. Above
#: ``INLINE_HASH_BYTES``, so a small object is hashed once, whole, on the loop thread.
PROGRESS_HASH_BYTES = 4 << 20
PROGRESS_HASH_SECONDS = 0.005


@dataclass(eq=False)
class _Object:
    """One object being downloaded: its file, its digest so far, its parts."""

    key: str
    dst: str
    fd: int = -1  # open from its first request until the object is decided (at most `workers` at a time)
    hasher: Any = field(default_factory=hashlib.sha256)
    size: int | None = None  # total bytes, once the first answer says
    etag: str | None = None
    last_modified: str | None = None  # the first answer's header, as sent
    hashed_to: int = 0  # bytes handed to the hashing thread, always a contiguous prefix
    done_parts: dict[int, int] = field(default_factory=dict)  # offset -> end of parts complete, not yet handed
    #: Requests asked for (``request``) and not yet decided (``decided``): a retry stays outstanding. Changed only
    #: by those two methods.
    outstanding: int = 0
    active: int = 0  # requests running: changed only by _Request.begin and _Request.end
    last_hash: Future[Any] | None = None  # the newest task on the hashing thread (at the end: the digest)
    hash_error: BaseException | None = None
    failed: Outcome | None = None

    def hash_range(self, start: int, end: int, buf: bytearray) -> None:
        """Feed bytes [start, end) of the file to the digest through ``buf``, a buffer its caller reuses (no
        allocation per read; on the hashing thread, preadv and the hash release the GIL)."""
        if self.hash_error is not None:
            return
        view = memoryview(buf)
        try:
            pos = start
            while pos < end:
                n = os.preadv(self.fd, [view[: min(len(buf), end - pos)]], pos)
                if n <= 0:
                    raise OSError(f"short read at byte {pos} of a downloaded part of {self.key}")
                self.hasher.update(view[:n])
                pos += n
        except Exception as exc:  # noqa: BLE001 - becomes this object's outcome, never a wrong digest
            self.hash_error = exc

    def final_digest(self) -> str | None:
        return None if self.hash_error is not None else self.hasher.hexdigest()

    def request(self, offset: int, length: int | None) -> _Request:
        """A new GET of this object (``length`` None: no Range header); outstanding until ``decided``."""
        self.outstanding += 1
        return _Request(self, offset, length)

    def decided(self) -> None:
        """One of its requests needs nothing more: its bytes are in, or it failed, or the object already did."""
        self.outstanding -= 1


@dataclass(eq=False)
class _Request:
    """One GET: a whole object, or a part of one."""

    obj: _Object
    offset: int
    length: int | None  # None: no Range header (a server that answered 416 to the ranged first GET)
    tries: int = 0
    not_before: float = 0.0
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body_bytes: int = 0  # the answer's Content-Length (0 until its headers say)
    sink: Any = None  # a raw file object at this request's offset: libcurl writes into it without Python code

    def on_header(self, line: bytes) -> None:
        if line[:5] == b"HTTP/":  # a new status line: an earlier (100 Continue, redirect) answer is over
            self.status = int(line.split(b" ", 2)[1])
            self.headers = {}
            self.body_bytes = 0
            return
        name, sep, value = line.partition(b":")
        if sep:
            name_s = name.strip().lower().decode("latin-1")
            self.headers[name_s] = value.strip().decode("latin-1")
            if name_s == "content-length" and self.headers[name_s].isdigit():
                self.body_bytes = int(self.headers[name_s])

    def growing_prefix(self) -> bool:
        """True when this request's body is the object's bytes at the end of its hashed prefix, and is large
        enough to hash while it arrives (a 206 part, or the first answer, whole or ranged)."""
        if self.body_bytes < PROGRESS_HASH_BYTES:  # nearly every request: the check that rejects it comes first
            return False
        obj = self.obj
        ok = self.status == 206 or (self.status == 200 and self.offset == 0)
        return (ok and self.sink is not None and obj.failed is None
                and self.offset <= obj.hashed_to < self.offset + self.body_bytes)

    def open_sink(self) -> None:
        """A raw (unbuffered) file object at ``offset``: the first request writes through the object's descriptor,
        each further part through one of its own, so no two requests share a file position."""
        if self.offset == 0:
            self.sink = open(self.obj.fd, "r+b", buffering=0, closefd=False)  # closed in close_sink
        else:
            self.sink = open(self.obj.dst, "r+b", buffering=0)  # closed in close_sink
        self.sink.seek(self.offset)

    def begin(self) -> None:
        """A try starts: its file object is open at ``offset``, and it counts as running for its object."""
        self.open_sink()
        self.status = 0
        self.tries += 1
        self.obj.active += 1

    def end(self) -> int:
        """A try is over (answered, failed, or abandoned): the bytes it wrote."""
        self.obj.active -= 1
        return self.close_sink()

    def close_sink(self) -> int:
        """Close the file object; returns the bytes written into it by the last try."""
        written = self.sink.tell() - self.offset if self.sink is not None else 0
        if self.sink is not None:
            self.sink.close()
            self.sink = None
        return written


class CurlDownloader:
    name = "curl"

    def __init__(self, settings: DownloaderSettings) -> None:
        self.s = settings
        # Path-style: the bucket name has dots, which a virtual-host TLS certificate would not cover.
        base = settings.endpoint_url or f"https://s3.{settings.region}.amazonaws.com"
        self.base = f"{base.rstrip('/')}/{quote(settings.bucket)}/"
        self.multi = pycurl.CurlMulti()
        self.multi.setopt(pycurl.M_MAXCONNECTS, settings.workers)
        self.idle: list[pycurl.Curl] = []
        self.hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raycollect-curl-hash")
        self.hash_buf = bytearray(HASH_READ_BYTES)  # the hashing thread's; the loop thread hashes with its own
        self.loop_buf = bytearray(INLINE_HASH_BYTES)
        try:
            import certifi

            self.cainfo: str | None = certifi.where()
        except ImportError:  # pragma: no cover - certifi comes with botocore
            self.cainfo = None

    def close(self) -> None:
        self.hashing.shutdown(wait=True)
        for c in self.idle:
            c.close()
        self.idle.clear()
        self.multi.close()

    # --- one transfer call: an event loop until every object is decided ---
    def transfer(self, pairs: list[tuple[str, str]], on_done: OnDone | None = None) -> dict[str, Outcome]:
        return _Transfer(self, on_done).run(pairs)

    def _perform(self) -> None:
        while True:
            ret, _ = self.multi.perform()
            if ret != pycurl.E_CALL_MULTI_PERFORM:
                return

    def _handle(self) -> pycurl.Curl:
        if self.idle:
            return self.idle.pop()
        c = pycurl.Curl()
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.CONNECTTIMEOUT_MS, int(CONNECT_TIMEOUT_S * 1000))
        c.setopt(pycurl.TIMEOUT_MS, int(self.s.timeout_seconds * 1000))  # one attempt of one request
        c.setopt(pycurl.BUFFERSIZE, BUFFER_BYTES)
        c.setopt(pycurl.FOLLOWLOCATION, 0)
        if self.cainfo:
            c.setopt(pycurl.CAINFO, self.cainfo)
        return c

    def _verdict(self, req: _Request, error: tuple[int, str] | None, written: int) -> _Verdict:
        """What one finished request means (no side effect but the object's size, once its first answer says)."""
        key = req.obj.key
        if error is not None:
            return self._curl_error(req, *error)
        status = req.status
        if status == 416 and req.offset == 0 and req.length is not None:
            return _Verdict(_Next.WHOLE)
        if status in (200, 206):
            if req.offset and written != req.length:
                return _failed(f"part at byte {req.offset} of {key}: {written} of {req.length} bytes")
            if req.offset == 0:
                total = _total_size(status, req.headers, written)
                if written != min(total, req.length or total):
                    return _failed(f"{key}: {written} bytes in an answer whose Content-Range says "
                                   f"{req.headers.get('content-range')}")
                req.obj.size = total
            return _Verdict(_Next.IN)
        if status in RETRY_STATUSES and req.tries < ENGINE_ATTEMPTS:
            return _Verdict(_Next.RETRY, retry_after=req.headers.get("retry-after"))
        kind = classify_status(status)
        if kind == "missing":
            return _Verdict(_Next.FAILED, Outcome(False, missing=True, error=f"NoSuchKey: {key}"))
        # 412: the object changed between its parts (If-Match): a fresh round fetches the new version whole.
        return _failed(f"HTTP {status} for {key}", transient=kind == "transient" or status == 412)

    def _curl_error(self, req: _Request, code: int, message: str) -> _Verdict:
        """A libcurl error (classified in raycollect.downloaders.retry): a retry, or an outcome naming its cause."""
        kind = classify_curl(code, message)
        if kind == "connect" and req.tries < ENGINE_ATTEMPTS:
            return _Verdict(_Next.RETRY)
        if kind == "write":  # libcurl could not write into our file: say why, as the other engines do
            return _Verdict(_Next.FAILED, Outcome.failure(_write_cause(req.obj.dst, message)))
        if kind == "timeout" and "onnect" not in message:  # a connect timeout says so itself
            message = f"timed out after {self.s.timeout_seconds}s (timeout_seconds)"
        return _failed(f"curl error {code}: {message}"[:500])

    def _hash_arrived(self, req: _Request) -> None:
        """Hand the bytes of a running request that extend the object's hashed prefix to the hashing thread."""
        obj = req.obj
        end = req.sink.tell()  # libcurl writes only from perform(), on this thread: these bytes are in the file
        if end - obj.hashed_to >= PROGRESS_HASH_BYTES:
            start, obj.hashed_to = obj.hashed_to, end
            obj.last_hash = self.hashing.submit(obj.hash_range, start, end, self.hash_buf)

    def _hash_ready(self, obj: _Object) -> None:
        """Hand the parts that extend the contiguous prefix to the hashing thread, in order; the digest last."""
        while obj.hashed_to in obj.done_parts:
            start = obj.hashed_to
            obj.hashed_to = obj.done_parts.pop(start)
            obj.last_hash = self.hashing.submit(obj.hash_range, start, obj.hashed_to, self.hash_buf)
        if obj.hashed_to == obj.size and obj.outstanding == 0:  # the digest follows every update, on one thread
            obj.last_hash = self.hashing.submit(obj.final_digest)

    def _backoff(self, req: _Request, retry_after: str | None) -> None:
        req.not_before = time.monotonic() + engine_backoff(req.tries, retry_after=retry_after)

class _Next(Enum):
    """What follows a finished request."""

    IN = "in"  # its bytes are in: more parts, the digest, or nothing yet
    RETRY = "retry"  # ask again, after a backoff (inside the engine)
    WHOLE = "whole"  # a 416 to the ranged first GET (an empty object): ask for it whole
    FAILED = "failed"  # the object's outcome is a failure (``_Verdict.outcome``)


@dataclass(frozen=True)
class _Verdict:
    next: _Next
    outcome: Outcome | None = None
    retry_after: str | None = None  # the server's Retry-After, for the backoff of a retry


def _failed(error: str, *, transient: bool = True) -> _Verdict:
    return _Verdict(_Next.FAILED, Outcome(False, error=error, transient=transient))


@dataclass(eq=False)
class _Transfer:
    """One ``transfer`` call: its state as fields (what is queued, running, being hashed, and decided) and the loop
    that moves it on (start, settle, complete). The downloader keeps what outlives a call: its libcurl handles, its
    hashing thread, and the rules that read one answer (``_verdict``)."""

    dl: CurlDownloader
    on_done: OnDone | None
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    queue: deque[_Request] = field(default_factory=deque)
    objects: list[_Object] = field(default_factory=list)
    running: dict[pycurl.Curl, _Request] = field(default_factory=dict)
    finishing: list[_Object] = field(default_factory=list)  # multi-part objects whose digest is being completed
    scanned: float = 0.0

    def run(self, pairs: list[tuple[str, str]]) -> dict[str, Outcome]:
        for key, dst in pairs:
            try:
                check_key(key)
            except ValueError as exc:
                self.outcomes[key] = Outcome.failure(exc)
                continue
            obj = _Object(key, dst)
            self.objects.append(obj)
            self.queue.append(obj.request(0, PART_BYTES))
        try:
            while self.queue or self.running or self.finishing:
                self._turn()
        finally:
            for c, req in self.running.items():  # an error of our own: nothing may go on writing after we return
                self.dl.multi.remove_handle(c)
                self.dl.idle.append(c)
                req.end()
            for obj in self.objects:
                _release(obj)
        return self.outcomes

    def _turn(self) -> None:
        """Start what may start, let libcurl move bytes, hash what arrived, settle what ended, then wait."""
        self._start()
        self.dl._perform()
        now = time.monotonic()
        if now - self.scanned >= PROGRESS_HASH_SECONDS:
            self.scanned = now
            for req in self.running.values():
                if req.growing_prefix():
                    self.dl._hash_arrived(req)
        self._settle_ended()
        self._complete_digests()
        self._wait()

    def _settle_ended(self) -> None:
        while True:
            left, ok, errors = self.dl.multi.info_read()
            for c in ok:
                self._settle(c, None)
            for c, code, message in errors:
                self._settle(c, (code, message))
            if not left:
                return

    def _complete_digests(self) -> None:
        for obj in [o for o in self.finishing if o.last_hash is not None and o.last_hash.done()]:
            self.finishing.remove(obj)
            self._digested(obj, obj.last_hash.result())  # type: ignore[union-attr]

    def _wait(self) -> None:
        if self.running:
            wait_ms = self.dl.multi.timeout()  # libcurl's next deadline (a timeout, a connect)
            cap = 0.02 if self.finishing or self.queue else 1.0
            self.dl.multi.select(cap if wait_ms < 0 else min(cap, wait_ms / 1000))
        elif self.queue or self.finishing:
            time.sleep(0.005)  # only retries waiting for their backoff, or digests being completed

    def _start(self) -> None:
        """Hand queued requests to libcurl, up to ``workers`` running; a part waits while its object has
        PARTS_IN_FLIGHT running, a retry until its backoff is over."""
        dl, now = self.dl, time.monotonic()
        for _ in range(len(self.queue)):
            if len(self.running) >= dl.s.workers:
                return
            req = self.queue.popleft()
            obj = req.obj
            if obj.failed is not None:
                obj.decided()  # another request of it failed: nothing more to ask
                continue
            if req.not_before > now or (req.offset and obj.active >= PARTS_IN_FLIGHT):
                self.queue.append(req)
                continue
            if obj.fd < 0:
                try:
                    obj.fd = os.open(obj.dst, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)  # read back for the hash
                except OSError as exc:  # an unwritable staging path: this object's outcome
                    obj.decided()
                    self._fail(obj, Outcome.failure(exc))
                    continue
            c = dl._handle()
            headers = []
            if req.length is not None:
                headers.append(f"Range: bytes={req.offset}-{req.offset + req.length - 1}")
            if req.offset and obj.etag:
                headers.append(f"If-Match: {obj.etag}")
            c.setopt(pycurl.URL, dl.base + quote(obj.key, safe="/"))
            if headers:
                c.setopt(pycurl.HTTPHEADER, headers)
            else:
                c.unsetopt(pycurl.HTTPHEADER)  # an empty list would keep a reused handle's headers
            req.begin()
            c.setopt(pycurl.WRITEDATA, req.sink)
            c.setopt(pycurl.HEADERFUNCTION, req.on_header)
            self.running[c] = req
            dl.multi.add_handle(c)

    def _settle(self, c: pycurl.Curl, error: tuple[int, str] | None) -> None:
        """Decide one finished request: a retry, more parts, the object's outcome, or nothing yet."""
        dl, req = self.dl, self.running.pop(c)
        dl.multi.remove_handle(c)
        dl.idle.append(c)
        written = req.end()
        obj = req.obj
        verdict = _Verdict(_Next.IN) if obj.failed is not None else dl._verdict(req, error, written)
        if verdict.next is _Next.RETRY:
            dl._backoff(req, verdict.retry_after)
            return self.queue.append(req)  # still outstanding
        obj.decided()
        if obj.failed is not None:
            return _release(obj)
        if verdict.next is _Next.FAILED:
            return self._fail(obj, verdict.outcome)  # type: ignore[arg-type]
        if verdict.next is _Next.WHOLE:  # 416 to the ranged first GET: an empty object; ask for it whole
            return self.queue.append(obj.request(0, None))
        if req.offset == 0:  # obj.size is the answer's total (see _verdict)
            obj.etag = req.headers.get("etag")
            obj.last_modified = req.headers.get("last-modified")
            self.queue.extend(obj.request(offset, min(PART_BYTES, obj.size - offset))
                              for offset in range(PART_BYTES, obj.size, PART_BYTES))
        start, end = max(req.offset, obj.hashed_to), req.offset + written  # hashed while it arrived: the rest
        if start < end:
            obj.done_parts[start] = end
        if obj.outstanding:
            return dl._hash_ready(obj)
        self._complete(obj)

    def _complete(self, obj: _Object) -> None:
        """Every byte of ``obj`` is in: its digest, here for a small object, else on the hashing thread."""
        os.ftruncate(obj.fd, obj.size or 0)  # an error body of a retried request may have run past the end
        if (obj.size or 0) <= INLINE_HASH_BYTES and obj.hashed_to == 0:  # small, none of it handed off yet: here
            obj.hash_range(0, obj.size or 0, self.dl.loop_buf)
            return self._digested(obj, obj.final_digest())
        self.dl._hash_ready(obj)
        self.finishing.append(obj)

    def _digested(self, obj: _Object, digest: str | None) -> None:
        """The object's outcome from its digest (None: hashing failed)."""
        if digest is None:
            return self._fail(obj, Outcome.failure(obj.hash_error or OSError("hashing failed")))
        self._finish(obj, Outcome(True, size=obj.size or 0, sha256=digest).with_headers(obj.etag, obj.last_modified))

    def _fail(self, obj: _Object, outcome: Outcome) -> None:
        obj.failed = outcome
        self.outcomes[obj.key] = outcome  # parts still running finish into a file the shard removes
        _release(obj)

    def _finish(self, obj: _Object, outcome: Outcome) -> None:
        _release(obj)
        self.outcomes[obj.key] = outcome
        if self.on_done is not None:
            self.on_done(obj.key, outcome.size)



def _write_cause(dst: str, message: str) -> OSError:
    """Why libcurl could not write into ``dst`` (it says only "error 23"): one byte written again tells the errno
    (ENOSPC on a full disk, the words every engine uses); else the failed write as libcurl tells it. The file is a
    failed download in staging: the probe's byte is never kept."""
    try:
        fd = os.open(dst, os.O_WRONLY)
        try:
            os.pwrite(fd, b"\0", 0)
        finally:
            os.close(fd)
    except OSError as exc:
        return OSError(exc.errno, exc.strerror)
    return OSError(errno.EIO, f"writing {os.path.basename(dst)} failed ({message or 'libcurl write error'})")


def _release(obj: _Object) -> None:
    """Close the object's file once no request writes into it and the hashing thread is done with it."""
    if obj.fd < 0 or obj.active:
        return
    if obj.last_hash is not None:
        obj.last_hash.exception()  # wait: the hashing thread may still read this file
    os.close(obj.fd)
    obj.fd = -1


def _total_size(status: int, headers: dict[str, str], received: int) -> int:
    """The object's size: from Content-Range on a 206 (``bytes 0-8388607/1000000000``), else what arrived."""
    if status == 206:
        total = headers.get("content-range", "").rpartition("/")[2]
        if total.isdigit():
            return int(total)
    return received


__all__ = ["PARTS_IN_FLIGHT", "PART_BYTES", "CurlDownloader"]
