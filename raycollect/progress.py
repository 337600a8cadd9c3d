"""Progress of a run: a one-line bar on a terminal, a plain log line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class Progress:
    def __init__(self, total: int, *, stream: TextIO | None = None, interval: float | None = None,
                 enabled: bool = True) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval if interval is not None else (0.5 if self.tty else 10.0)
        self.enabled = enabled
        self.files = 0
        self.bytes = 0
        self.failed = 0
        self.started = time.monotonic()
        self._last = 0.0

    def add(self, files: int, nbytes: int, failed: int = 0) -> None:
        self.files += files
        self.bytes += nbytes
        self.failed += failed
        self.tick()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.files / elapsed
        left = self.total - self.files
        eta = f"{left / rate:.0f}s" if rate > 0 and left > 0 else "-"
        pct = 100.0 * self.files / self.total if self.total else 100.0
        return (f"{self.files:,}/{self.total:,} files ({pct:.1f}%), {human_bytes(self.bytes)}, "
                f"{rate:,.0f} files/s, {human_bytes(self.bytes / elapsed)}/s, {self.failed:,} failed, ETA {eta}")

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < self.interval):
            return
        self._last = now
        if self.tty:
            self.stream.write("\r\033[K" + self.line())
        else:
            self.stream.write("progress: " + self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.tick(force=True)
            if self.tty:
                self.stream.write("\n")
                self.stream.flush()
