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
