"""s5cmd engine: one ``s5cmd run`` over a command file per call (batch mode), or one ``cp`` per object.

Nothing passes through a shell. In batch mode every line is ``cp SRC DST`` with both arguments
shell-quoted (s5cmd splits lines with POSIX quoting rules), keys are checked against the archive
alphabet first, and ``--raw`` turns off wildcard expansion, so no key or path can add a line or a glob.

Bounds: s5cmd has no per-request timeout, so a watchdog kills it when no file has completed for
``timeout_seconds`` (the files still open fail as "timed out", transient: the shard's next round
retries them). s5cmd dies with the process that started it (``PR_SET_PDEATHSIG``), so a killed actor
never leaves an s5cmd writing into its staging directory.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import IO

from raycollect.binaries import s5cmd_binary
from raycollect.downloaders.base import DownloaderSettings, OnDone, Outcome, check_key
from raycollect.downloaders.retry import classify_status, s5cmd_retry_args

_STATUS = re.compile(r"status code: (\d{3})")
_MISSING_MARKERS = ("NoSuchKey", "status code: 404", "NotFound")
#: s5cmd reads these from the environment; raycollect sets source and credentials itself.
_ENV_DROP = ("S3_ENDPOINT_URL", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE")


def _die_with_parent() -> Callable[[], None] | None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None  # not Linux: the watchdog and the shard's clean-up still bound it

    def set_pdeathsig() -> None:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    return set_pdeathsig


class S5cmdDownloader:
    name = "s5cmd"

    def __init__(self, settings: DownloaderSettings) -> None:
        self.s = settings
        self.binary = s5cmd_binary()
        self.base = [self.binary, "--json", "--no-sign-request", "--numworkers", str(settings.workers),
                     *s5cmd_retry_args()]
        if settings.endpoint_url:
            self.base += ["--endpoint-url", settings.endpoint_url]
        self.base += list(settings.s5cmd_extra_args)
        self.env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
        self.env["AWS_REGION"] = settings.region
        self.preexec = _die_with_parent()

    def close(self) -> None:
        pass

    def _cp_args(self, key: str, dst: str) -> list[str]:
        if any(c in dst for c in "\r\n\0"):
            raise ValueError(f"unsafe local path {dst!r}")
        src = f"s3://{self.s.bucket}/{check_key(key)}"
        return ["cp", "--raw", "--part-size", str(self.s.part_size_mb), src, dst]

    def transfer(self, pairs: list[tuple[str, str]], on_done: OnDone | None = None) -> dict[str, Outcome]:
        if not pairs:
            return {}
        if self.s.enable_batch_mode:
            return self._run_batch(pairs, on_done)
        with ThreadPoolExecutor(max_workers=min(len(pairs), max(1, self.s.workers // 4))) as pool:
            parts = pool.map(lambda p: self._invoke([*self.base, *self._cp_args(*p)], [p], on_done), pairs)
            return {k: v for part in parts for k, v in part.items()}

    def _run_batch(self, pairs: list[tuple[str, str]], on_done: OnDone | None) -> dict[str, Outcome]:
        lines = [" ".join(shlex.quote(a) for a in self._cp_args(k, d)) for k, d in pairs]
        folder = os.path.dirname(pairs[0][1])  # the shard's staging directory, removed with it
        with tempfile.NamedTemporaryFile("w", suffix=".s5cmd", dir=folder or None, delete=False) as fh:
            fh.write("\n".join(lines) + "\n")
            path = fh.name
        try:
            return self._invoke([*self.base, "run", path], pairs, on_done)
        finally:
            os.unlink(path)

    def _invoke(self, cmd: list[str], pairs: list[tuple[str, str]], on_done: OnDone | None = None
                ) -> dict[str, Outcome]:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True, env=self.env, preexec_fn=self.preexec)
        out: list[str] = []
        err: list[str] = []
        last = [time.monotonic()]
        prefix = f"s3://{self.s.bucket}/"
        readers = [threading.Thread(target=_pump, args=(proc.stdout, out, last, on_done, prefix), daemon=True),
                   threading.Thread(target=_pump, args=(proc.stderr, err, last), daemon=True)]
        for t in readers:
            t.start()
        stalled = False
        while proc.poll() is None:
            if time.monotonic() - last[0] > self.s.timeout_seconds:
                proc.kill()  # no file finished for timeout_seconds: whatever finished before is kept
                stalled = True
                break
            time.sleep(0.05)
        proc.wait()
        for t in readers:
            t.join()
        results = parse_output("".join(out), "".join(err), self.s.bucket)
        outcomes: dict[str, Outcome] = {}
        for key, _ in pairs:
            got = results.get(key)
            if got is not None:
                outcomes[key] = got
            elif stalled:
                outcomes[key] = Outcome(False, error=f"s5cmd timed out: no file completed for "
                                                     f"{self.s.timeout_seconds}s (timeout_seconds)", transient=True)
            else:
                tail = " ".join("".join(err).strip().splitlines()[-2:])[-300:]
                outcomes[key] = Outcome(False, error=f"no result from s5cmd (exit {proc.returncode}): {tail}",
                                        transient=True)
        return outcomes


def _pump(stream: IO[str] | None, sink: list[str], last: list[float], on_done: OnDone | None = None,
          prefix: str = "") -> None:
    if stream is None:
        return
    for line in stream:
        sink.append(line)
        last[0] = time.monotonic()
        if on_done is not None and '"success":true' in line:
            got = parse_output(line, "", prefix[5:-1])
            for key, outcome in got.items():
                on_done(key, outcome.size)


def parse_output(stdout: str, stderr: str, bucket: str) -> dict[str, Outcome]:
    """Per-key outcomes from s5cmd ``--json`` lines (successes on stdout, errors on stderr)."""
    prefix = f"s3://{bucket}/"
    results: dict[str, Outcome] = {}
    for line in (stdout + "\n" + stderr).splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("operation") != "cp":
            continue
        if msg.get("success"):
            src = str(msg.get("source", ""))
            if src.startswith(prefix):
                size = int((msg.get("object") or {}).get("size") or 0)
                results[src[len(prefix):]] = Outcome(True, size=size)
            continue
        error = str(msg.get("error", "unknown s5cmd error"))
        src = next((t for t in str(msg.get("command", "")).split(" ") if t.startswith(prefix)), "")
        if not src:
            continue
        missing = any(m in error for m in _MISSING_MARKERS)
        status = _STATUS.search(error)
        terminal = status is not None and classify_status(int(status.group(1))) == "terminal"
        results[src[len(prefix):]] = Outcome(False, missing=missing, error=error[:500],
                                             transient=not missing and not terminal)
    return results
