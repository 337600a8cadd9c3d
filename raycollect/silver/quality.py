"""Quality found while a file converts: order, period, and for candles the missing and duplicated ones.

Per file, on its ordering time column (``open_time`` for candles, ``time``/``transact_time`` for trades, ...):
- ``out_of_order_rows``: rows whose time is earlier than the row before them;
- ``out_of_period_rows``: rows whose time is outside the file's day or month (UTC);
- candles (kline-like types): ``duplicate_rows`` (candles sharing an open time), and for intervals of at most a
  day ``expected_rows`` (the period's length over the interval), ``missing_rows`` (expected open times with no
  candle) and ``first_missing`` (the earliest missing open time). The grids of 3d, 1w and 1mo candles are not
  a whole number of them per day or month: those three stay None.
- every type: ``nonfinite_rows``, rows with a NaN or infinite price or quantity (``nan``, ``inf``, ``1e309``);
  a file with no row at all has ``rows`` 0 and is listed by `manifest quality` as empty.
Nothing here drops or changes a row: silver keeps what the archive published, and says what is odd about it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from raycollect.silver.schemas import TableSpec

_UNIT_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}


def interval_us(interval: str | None) -> int | None:
    """Microseconds per candle for intervals of at most a day (``1s`` ... ``1d``); None for 3d, 1w, 1mo."""
    if not interval or interval.endswith("mo") or interval[-1] not in _UNIT_US:
        return None
    step = int(interval[:-1]) * _UNIT_US[interval[-1]]
    return step if step <= _UNIT_US["d"] else None


def period_bounds_us(partition: str, period: dt.date) -> tuple[int, int]:
    start = dt.datetime(period.year, period.month, period.day, tzinfo=dt.timezone.utc)
    if partition == "daily":
        end = start + dt.timedelta(days=1)
    else:
        end = dt.datetime(period.year + period.month // 12, period.month % 12 + 1, 1, tzinfo=dt.timezone.utc)
    return int(start.timestamp()) * 1_000_000, int(end.timestamp()) * 1_000_000


@dataclass
class Quality:
    start_us: int
    end_us: int
    step_us: int | None  # candles of at most a day only
    candles: bool = False
    rows: int = 0
    first: int | None = None
    last: int | None = None
    out_of_order: int = 0
    out_of_period: int = 0
    nonfinite: int = 0  # rows with a NaN or infinite number (kept as written)
    _times: list[np.ndarray] = field(default_factory=list)  # candles only: open times, for missing/duplicates

    @classmethod
    def for_file(cls, spec: TableSpec, interval: str | None, partition: str, period: dt.date) -> Quality:
        start, end = period_bounds_us(partition, period)
        return cls(start, end, interval_us(interval) if spec.kline else None, candles=spec.kline)

    def add(self, times: pa.Array) -> None:
        """One block's ordering column (timestamp[us]); nulls are ignored."""
        if pa.types.is_date(times.type):  # EOHSummary orders by its date column
            times = times.cast(pa.timestamp("us"))
        t = times.cast(pa.int64()).drop_null().to_numpy(zero_copy_only=False)
        self.rows += len(times)
        if not len(t):
            return
        if self.first is None:
            self.first = int(t[0])
        elif t[0] < self.last:  # type: ignore[operator]
            self.out_of_order += 1
        self.out_of_order += int(np.count_nonzero(t[1:] < t[:-1]))
        self.out_of_period += int(np.count_nonzero((t < self.start_us) | (t >= self.end_us)))
        self.last = int(t[-1])
        if self.candles:
            self._times.append(t)

    def add_values(self, table: pa.Table, floats: list[str]) -> None:
        """Count the rows of a block with a NaN or infinite value in a number column (nulls are not counted)."""
        import pyarrow.compute as pc

        odd = None
        for name in floats:
            bad = pc.fill_null(pc.invert(pc.is_finite(table.column(name))), False)
            odd = bad if odd is None else pc.or_(odd, bad)
        if odd is not None:
            self.nonfinite += int(pc.sum(odd).as_py() or 0)

    def facts(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rows": self.rows, "first_time": _ts(self.first), "last_time": _ts(self.last),
            "out_of_order_rows": self.out_of_order, "out_of_period_rows": self.out_of_period,
            "nonfinite_rows": self.nonfinite,
            "expected_rows": None, "missing_rows": None, "duplicate_rows": None, "first_missing": None,
        }  # fmt: skip
        if not self.candles:
            return out
        t = np.concatenate(self._times) if self._times else np.empty(0, np.int64)
        unique = np.unique(t)
        out["duplicate_rows"] = len(t) - len(unique)
        if self.step_us is None:
            return out
        grid = np.arange(self.start_us, self.end_us, self.step_us, dtype=np.int64)
        missing = np.setdiff1d(grid, unique, assume_unique=True)
        out.update(expected_rows=len(grid), missing_rows=len(missing),
                   first_missing=_ts(int(missing[0])) if len(missing) else None)
        return out


def _ts(us: int | None) -> dt.datetime | None:
    if us is None:
        return None
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)
