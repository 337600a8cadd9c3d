"""Progress of a run: a tqdm bar on a terminal, a plain log line every 10 s otherwise.

files/s, everywhere (this bar, the run summary, ``manifest summary``): files requested from the archive
(success, failed, and missing after a request: ``attempts > 0``) per second of wall time; skipped files and files
discovery found unlisted were never requested and do not count. The bar shows this one rate, not tqdm's.
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
                 enabled: bool = True, label: str = "collect") -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval if interval is not None else 10.0
        self.enabled = enabled
        self.label = label
        self.files = self.bytes = self.failed = self.transferred = 0
        self.inflight_files = self.inflight_bytes = 0  # fetched by shards still running (per file, from actors)
        self._shown = 0
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

            # tqdm's own rate ({rate_fmt}: files decided per second, skipped ones included) is left out: the
            # postfix shows files/s as defined everywhere (files requested per second), once.
            self._bar = tqdm(total=total, unit="file", unit_scale=True, smoothing=0.1, file=self.stream,
                             dynamic_ncols=True, desc=self.label, mininterval=0.2,
                             bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")
        else:
            self.stream.write(f"progress: {total:,} files planned\n")
            self.stream.flush()

    def add(self, files: int, nbytes: int, failed: int = 0, *, transferred: int | None = None) -> None:
        self.files += files
        self.bytes += nbytes
        self.failed += failed
        self.transferred += files if transferred is None else transferred
        self._sync_bar()
        self.tick()

    def show_inflight(self, files: int, nbytes: int) -> None:
        """Files and bytes fetched so far by shards still running: the bar moves per file, not per shard."""
        self.inflight_files, self.inflight_bytes = files, nbytes
        self._sync_bar()

    def _sync_bar(self) -> None:
        if self._bar is None:
            return
        shown = min(self.files + self.inflight_files, self.total)
        if shown != self._shown:
            self._bar.update(shown - self._shown)
            self._shown = shown
        elapsed = max(time.monotonic() - self.started, 1e-6)
        nbytes = self.bytes + self.inflight_bytes
        self._bar.set_postfix_str(f"{human_bytes(nbytes)} {human_bytes(nbytes / elapsed)}/s "
                                  f"{(self.transferred + self.inflight_files) / elapsed:,.0f} files/s, "
                                  f"{self.failed:,} failed", refresh=False)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        files = self.files + self.inflight_files
        decided_rate = files / elapsed
        left = self.total - files
        eta = f"{left / decided_rate:.0f}s" if decided_rate > 0 and left > 0 else "-"
        pct = 100.0 * files / self.total if self.total else 100.0
        nbytes = self.bytes + self.inflight_bytes
        rate = (self.transferred + self.inflight_files) / elapsed
        return (f"{files:,}/{self.total:,} files ({pct:.1f}%), {human_bytes(nbytes)}, {rate:,.0f} files/s, "
                f"{human_bytes(nbytes / elapsed)}/s, {self.failed:,} failed, ETA {eta}")

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
