"""SHA-256 of archive files and strict parsing of their ``.CHECKSUM`` sidecars (``sha256sum`` format).

A sidecar is accepted only as exactly one line: 64 lowercase hex digits, two spaces, the zip's own file
name, and an optional trailing newline (spot sidecars have none, futures sidecars have one). Anything
else (another file name, a directory part, a second line, upper-case hex) was damaged somewhere and is
never trusted or committed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_HEX64 = re.compile(r"[0-9a-f]{64}")
#: A valid sidecar's size is this plus its zip name's length in bytes, plus 1 with the optional newline.
SIDECAR_FIXED_BYTES = 64 + 2  # the hex digest and the two spaces
CHUNK = 1 << 20  # 1 MiB reads: large enough to reach disk speed, small enough to stay cache-friendly


class ChecksumFormatError(ValueError):
    """A sidecar that is not exactly ``<sha256>  <zip name>`` for its zip."""


class SidecarNamesOther(ChecksumFormatError):
    """A well-formed sidecar that names another file (e.g. ``ADABKRW-1d-2020-8.zip`` for ``...-2020-08.zip``,
    binance-public-data#469): the archive's own mistake, not a damaged transfer; the file is quarantined."""


def parse_checksum(text: str | bytes, zip_name: str) -> str:
    """The hex digest in a sidecar's text, after checking that the line names ``zip_name``."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8", errors="replace")
    shown = raw[:100].decode("utf-8", errors="replace").strip() or "(empty)"
    body = raw[:-1] if raw.endswith(b"\n") else raw
    digest, sep, name = body.partition(b"  ")
    try:
        digest_s, name_s = digest.decode("ascii"), name.decode("utf-8")
    except UnicodeDecodeError:
        raise ChecksumFormatError(f"malformed sidecar (not text): {shown!r}") from None
    if not sep or not _HEX64.fullmatch(digest_s):
        raise ChecksumFormatError(f"malformed sidecar (expected '<64 hex>  {zip_name}'): {shown!r}")
    if name_s != zip_name:
        one_name = name_s and not any(c.isspace() or c == "/" for c in name_s)
        error = SidecarNamesOther if one_name else ChecksumFormatError
        raise error(f"malformed sidecar (names {name_s[:80]!r}, not {zip_name!r}): {shown!r}")
    return digest_s


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()
