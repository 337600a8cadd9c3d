"""Defaults that more than one module states: the config's fields and the engines' settings take them from here."""

from __future__ import annotations

BUCKET = "data.binance.vision"
REGION = "ap-northeast-1"
TIMEOUT_SECONDS = 300  # one attempt of one file; s5cmd: no file completed for this long
ENABLE_BATCH_MODE = True
PART_SIZE_MB = 50
#: Concurrent transfers inside one actor, per engine (I/O bound: far more than its CPU share); and listings at once.
TRANSFERS = {"curl": 64}
TRANSFERS_OTHER = 32
LISTINGS = 32


def transfers(engine: str) -> int:
    return TRANSFERS.get(engine, TRANSFERS_OTHER)
