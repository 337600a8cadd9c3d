"""Progress of a run: a tqdm bar on a terminal, a plain log line every 10 s otherwise.

files/s, everywhere (this bar, the run summary, ``manifest summary``): files transferred or tried
(success + failed + missing) per second of wall time; skipped files are not transfers and do not count.
The bar's ETA is tqdm's smoothed estimate over everything left to decide.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class Progress:
    def __init__(self, total: int, *, stream: TextIO | None = None, interval: float | None = None,
                 enabled: bool = True, label: str = "collecting") -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval if interval is not None else 10.0
        self.enabled = enabled
        self.label = label
        self.files = self.bytes = self.failed = self.transferred = 0
        self.started = time.monotonic()
        self._last = self.started
        self._bar: Any = None

    def start(self, total: int) -> None:
        """The plan is known: from here on the bar (or the log line) counts files decided."""
        self.total = total
        self.started = self._last = time.monotonic()
        if not self.enabled:
            return
        if self.tty:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="file", unit_scale=True, smoothing=0.1, file=self.stream,
                             dynamic_ncols=True, desc="collect", mininterval=0.2)
        else:
            self.stream.write(f"progress: {total:,} files planned\n")
            self.stream.flush()

    def add(self, files: int, nbytes: int, failed: int = 0, *, transferred: int | None = None) -> None:
        self.files += files
        self.bytes += nbytes
        self.failed += failed
        self.transferred += files if transferred is None else transferred
        if self._bar is not None:
            self._bar.update(files)
            elapsed = max(time.monotonic() - self.started, 1e-6)
            self._bar.set_postfix_str(f"{human_bytes(self.bytes)} {human_bytes(self.bytes / elapsed)}/s "
                                      f"{self.transferred / elapsed:,.0f} files/s, {self.failed:,} failed",
                                      refresh=False)
        self.tick()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        decided_rate = self.files / elapsed
        left = self.total - self.files
        eta = f"{left / decided_rate:.0f}s" if decided_rate > 0 and left > 0 else "-"
        pct = 100.0 * self.files / self.total if self.total else 100.0
        return (f"{self.files:,}/{self.total:,} files ({pct:.1f}%), {human_bytes(self.bytes)}, "
                f"{self.transferred / elapsed:,.0f} files/s, {human_bytes(self.bytes / elapsed)}/s, "
                f"{self.failed:,} failed, ETA {eta}")

    def tick(self, force: bool = False) -> None:
        if not self.enabled or self._bar is not None:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self.stream.write("progress: " + self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.files:
            self.tick(force=True)
