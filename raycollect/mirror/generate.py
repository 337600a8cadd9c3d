"""Write a deterministic, seeded archive tree: one zip (one CSV named like it) and one sidecar per file.

The files to write come from a plan table (the same expansion the collector uses), so generated keys
follow the grammar by construction. ``Quirks`` adds what a collector must survive: gaps, a zip without
its sidecar, a sidecar that does not match its zip.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import random
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from raycollect.mirror.content import csv_lines


@dataclass(frozen=True)
class Quirks:
    """Deviations from a perfect archive, by key (the zip's key)."""

    missing: frozenset[str] = frozenset()  # neither zip nor sidecar: gaps, a monthly file not yet published
    no_checksum: frozenset[str] = frozenset()  # the zip without its .CHECKSUM
    bad_checksum: frozenset[str] = frozenset()  # a .CHECKSUM whose digest is not the zip's
    gap_rate: float = 0.0  # a further seeded fraction of files left out, as random gaps


@dataclass
class GeneratedArchive:
    root: Path
    written: list[str] = field(default_factory=list)  # zip keys present
    omitted: list[str] = field(default_factory=list)  # zip keys planned but absent
    objects: int = 0  # files written, sidecars included
    bytes: int = 0
    sha256: dict[str, str] = field(default_factory=dict)  # zip key -> true digest of the zip


def sidecar_text(market: str, digest: str, name: str) -> str:
    """``sha256sum`` format; spot sidecars without a trailing newline, futures with one (ARCHIVE.md)."""
    return f"{digest}  {name}" + ("" if market == "spot" else "\n")


def zip_bytes(name: str, text: bytes, period: dt.date, compression: str = "deflated") -> bytes:
    """A zip holding one file, byte-for-byte reproducible (fixed member timestamp)."""
    buf = io.BytesIO()
    method = zipfile.ZIP_STORED if compression == "stored" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        info = zipfile.ZipInfo(name, date_time=(period.year, period.month, period.day, 0, 0, 0))
        info.compress_type = method
        zf.writestr(info, text)
    return buf.getvalue()


def generate_archive(
    root: str | Path,
    plan: pa.Table | Iterable[dict[str, Any]],
    *,
    seed: int = 0,
    rows: int = 24,
    size_bytes: int | None = None,
    compression: Literal["deflated", "stored"] = "deflated",
    quirks: Quirks = Quirks(),
) -> GeneratedArchive:
    """Write every file of ``plan`` below ``root`` at its key. ``rows`` caps rows per file; with
    ``size_bytes``, unbounded types (trades, aggTrades, ...) get rows until the CSV reaches that size."""
    root = Path(root)
    out = GeneratedArchive(root)
    rows_iter = plan.to_pylist() if isinstance(plan, pa.Table) else plan
    for row in rows_iter:
        key = row["key"]
        salt = zlib.crc32(key.encode()) ^ seed
        rng = random.Random(salt)
        if key in quirks.missing or (quirks.gap_rate and rng.random() < quirks.gap_rate):
            out.omitted.append(key)
            continue
        name = key.rsplit("/", 1)[1]
        text = _csv_text(row, rng, rows, size_bytes)
        payload = zip_bytes(name[:-4] + ".csv", text, row["period"], compression)
        digest = hashlib.sha256(payload).hexdigest()
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
        out.written.append(key)
        out.sha256[key] = digest
        out.objects += 1
        out.bytes += len(payload)
        if key in quirks.no_checksum:
            continue
        claimed = hashlib.sha256(payload + b"republished").hexdigest() if key in quirks.bad_checksum else digest
        sidecar = sidecar_text(row["market"], claimed, name).encode()
        (root / (key + ".CHECKSUM")).write_bytes(sidecar)
        out.objects += 1
        out.bytes += len(sidecar)
    return out


def _csv_text(row: dict[str, Any], rng: random.Random, rows: int, size_bytes: int | None) -> bytes:
    args = (row["market"], row["data_type"], row["symbol"], row["interval"], row["partition"], row["period"])
    if size_bytes is None:
        return "".join(line + "\n" for line in csv_lines(*args, rows, rng)).encode()
    parts: list[str] = []
    total = 0
    for line in csv_lines(*args, max(rows, size_bytes // 40), rng):
        parts.append(line + "\n")
        total += len(line) + 1
        if total >= size_bytes:
            break
    return "".join(parts).encode()


def plan_for(
    *,
    markets: list[str],
    symbols: list[str] | dict[str, list[str]],
    data_types: list[str],
    start: str,
    end: str,
    intervals: dict[str, list[str]] | None = None,
    partition_policy: str = "both",
    matrix_path: str | None = None,
) -> pa.Table:
    """The files a real archive would hold for this selection (both partitions by default)."""
    from raycollect.config import WorkflowConfig
    from raycollect.matrix import BUNDLED_MATRIX
    from raycollect.plan import build_plan

    matrix = matrix_path or str(BUNDLED_MATRIX)
    config = WorkflowConfig(
        workflow_type="archive_collection", matrix_path=matrix, output_directory="unused",
        markets=markets, symbols=symbols, data_types=data_types, intervals=intervals,
        date_range={"start": start, "end": end}, partition_policy=partition_policy,
    )  # fmt: skip
    return build_plan(config, today=dt.date(2100, 1, 1))
