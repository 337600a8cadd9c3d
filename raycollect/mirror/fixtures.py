"""The real archive files shipped with raycollect (package data), served at their real keys."""

from __future__ import annotations

from pathlib import Path

#: Keys of the four real archive zips under fixtures/binance-real/ (each has a .CHECKSUM sidecar).
REAL_KEYS: tuple[str, ...] = (
    "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2026-05-08.zip",
    "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2026-05-09.zip",
    "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-04.zip",
    "data/futures/cm/daily/aggTrades/BTCUSD_PERP/BTCUSD_PERP-aggTrades-2026-05-08.zip",
)


def real_fixtures_root() -> Path:
    """The folder whose ``data/...`` tree holds the real files (read-only: never modify them)."""
    root = Path(__file__).resolve().parent.parent / "fixtures" / "binance-real"
    if not (root / REAL_KEYS[0]).is_file():
        raise FileNotFoundError(f"raycollect's real archive fixtures are missing under {root}; reinstall raycollect")
    return root
