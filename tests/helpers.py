"""Shared test helpers: paths and a minimal valid config."""

from __future__ import annotations

import json
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
