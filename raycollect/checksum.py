"""SHA-256 of archive files and parsing of their ``.CHECKSUM`` sidecars (``sha256sum`` format).

Spot sidecars end without a newline and futures sidecars with one, and some real ones do otherwise:
only the first whitespace-separated token is read, never the whole line.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
CHUNK = 1 << 20  # 1 MiB reads: large enough to reach disk speed, small enough to stay cache-friendly


class ChecksumFormatError(ValueError):
    """A sidecar whose first token is not a SHA-256 hex digest."""


def parse_checksum(text: str | bytes) -> str:
    """The lowercase hex digest in a sidecar's text."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    tokens = text.split()
    if not tokens or not _HEX64.fullmatch(tokens[0]):
        shown = text[:80].strip() or "(empty)"
        raise ChecksumFormatError(f"not a sha256sum line: {shown!r}")
    return tokens[0].lower()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()
