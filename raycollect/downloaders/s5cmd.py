"""s5cmd engine: one ``s5cmd run`` over a command file per call (batch mode), or one ``cp`` per object.

Nothing passes through a shell. In batch mode every line is ``cp SRC DST`` with both arguments
shell-quoted (s5cmd splits lines with POSIX quoting rules), keys are checked against the archive
alphabet first, and ``--raw`` turns off wildcard expansion, so no key or path can add a line or a glob.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

from raycollect.binaries import s5cmd_binary
from raycollect.downloaders.base import DownloaderSettings, Outcome, check_key

_MISSING_MARKERS = ("NoSuchKey", "status code: 404", "NotFound")


class S5cmdDownloader:
    name = "s5cmd"

    def __init__(self, settings: DownloaderSettings) -> None:
        self.s = settings
        self.binary = s5cmd_binary()
        self.base = [self.binary, "--json", "--no-sign-request", "--numworkers", str(settings.workers)]
        if settings.endpoint_url:
            self.base += ["--endpoint-url", settings.endpoint_url]
        self.base += list(settings.s5cmd_extra_args)
        self.env = {**os.environ, "AWS_REGION": settings.region}

    def close(self) -> None:
        pass

    def _cp_args(self, key: str, dst: str) -> list[str]:
        if any(c in dst for c in "\r\n\0"):
            raise ValueError(f"unsafe local path {dst!r}")
        src = f"s3://{self.s.bucket}/{check_key(key)}"
        return ["cp", "--raw", "--part-size", str(self.s.part_size_mb), src, dst]

    def transfer(self, pairs: list[tuple[str, str]], timeout: float) -> dict[str, Outcome]:
        if not pairs:
            return {}
        if self.s.enable_batch_mode:
            return self._run_batch(pairs, timeout)
        with ThreadPoolExecutor(max_workers=min(len(pairs), max(1, self.s.workers // 4))) as pool:
            parts = pool.map(lambda p: self._invoke([*self.base, *self._cp_args(*p)], [p], timeout), pairs)
            return {k: v for part in parts for k, v in part.items()}

    def _run_batch(self, pairs: list[tuple[str, str]], timeout: float) -> dict[str, Outcome]:
        lines = [" ".join(shlex.quote(a) for a in self._cp_args(k, d)) for k, d in pairs]
        with tempfile.NamedTemporaryFile("w", suffix=".s5cmd", delete=False) as fh:
            fh.write("\n".join(lines) + "\n")
            path = fh.name
        try:
            return self._invoke([*self.base, "run", path], pairs, timeout)
        finally:
            os.unlink(path)

    def _invoke(self, cmd: list[str], pairs: list[tuple[str, str]], timeout: float) -> dict[str, Outcome]:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True, env=self.env)
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()  # the per-invocation limit: whatever finished before it is kept
            out, err = proc.communicate()
            timed_out = True
        results = parse_output(out, err, self.s.bucket)
        outcomes: dict[str, Outcome] = {}
        for key, _ in pairs:
            got = results.get(key)
            if got is not None:
                outcomes[key] = got
            elif timed_out:
                outcomes[key] = Outcome(False, error=f"s5cmd timed out after {timeout:.0f}s (timeout_seconds)")
            else:
                tail = " ".join(err.strip().splitlines()[-2:])[-300:]
                outcomes[key] = Outcome(False, error=f"no result from s5cmd (exit {proc.returncode}): {tail}",
                                        transient=True)
        return outcomes


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
        results[src[len(prefix):]] = Outcome(False, missing=missing, error=error[:500], transient=not missing)
    return results
