"""The progress bar says files/s once, as defined everywhere (files requested per second)."""

from __future__ import annotations

import io
import re

from raycollect.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_shows_one_rate_the_files_requested_per_second():
    out = _Terminal()
    progress = Progress(100, stream=out, label="collect")
    progress.start(100)
    progress.add(60, 0, transferred=0)  # skipped: decided, never requested
    progress.add(40, 4_000_000, 1, transferred=40)
    progress.close()
    last = out.getvalue().split("\r")[-1]
    assert len(re.findall(r"files?/s", last)) == 1, last  # tqdm's own "file/s" is gone
    assert re.search(r"100/100 \[.*, 4\.0 MB [\d.]+ [KMGT]?B/s [\d,]+ files/s, 1 failed\]", last), last
