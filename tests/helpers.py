"""Shared test helpers: paths, a minimal valid config, waiting for processes to exit."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MATRIX = ROOT / "matrices" / "binance_archive_matrix.json"


def base_config(**overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "workflow_type": "archive_collection",
        "matrix_path": str(MATRIX),
        "output_directory": "out",
        "markets": ["spot"],
        "symbols": ["BTCUSDT"],
        "data_types": ["klines"],
        "intervals": {"klines": ["1h"]},
        "date_range": {"start": "2024-01-01", "end": "2024-01-02"},
    }
    cfg.update(overrides)
    return {k: v for k, v in cfg.items() if v is not None}


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def exited(pid: int) -> bool:
    """The process is gone, or a zombie (it has exited: its files and locks are released)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" in f.read()
    except (FileNotFoundError, ProcessLookupError):  # gone, or reaped between the open and the read
        return True


def wait_exited(pids: list[int], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(exited(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def one_line_zip(name: str, size: int = 1 << 30) -> bytes:
    """A zip named ``name`` whose one CSV is ``size`` bytes of digits with no line end, deflated to about a
    thousandth of that (a "zip bomb" of one line: it passes any checksum its sidecar gives)."""
    import struct
    import zlib

    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"1" * (16 << 20)
    crc, total, body = 0, 0, bytearray()
    while total < size:
        part = chunk[: size - total]
        crc = zlib.crc32(part, crc)
        total += len(part)
        body += deflate.compress(part)
    body += deflate.flush()
    member = name[:-4].encode() + b".csv"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(body), total & 0xFFFFFFFF,
                        len(member), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(body),
                          total & 0xFFFFFFFF, len(member), 0, 0, 0, 0, 0, 0)
    offset = len(local) + len(member) + len(body)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + len(member), offset, 0)
    return local + member + bytes(body) + central + member + end


def zip_of(members: dict[str, bytes | str]) -> bytes:
    """A zip holding ``members`` (name -> content), none of them compressed specially: odd archives for tests."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def hashed_ranges(monkeypatch: Any) -> list[tuple[int, int]]:
    """Every range the curl engine feeds to a digest, in the order it does (one object per test)."""
    import raycollect.downloaders.curl as curl_engine

    ranges: list[tuple[int, int]] = []
    original = curl_engine._Object.hash_range

    def record(self: Any, start: int, end: int, buf: bytearray) -> None:
        ranges.append((start, end))
        return original(self, start, end, buf)

    monkeypatch.setattr(curl_engine._Object, "hash_range", record)
    return ranges
