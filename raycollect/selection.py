"""Resolve a config against the matrix: which (market, data type, interval) series to plan, for which symbols.

Data types and intervals apply to the selected markets that have them (``fundingRate`` next to ``spot``
is fine when a futures market is selected too); a name that no selected market has, or that the
archive does not know at all, is a ConfigurationError rather than an empty plan.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass

from raycollect.config import DateRange, WorkflowConfig
from raycollect.errors import ConfigurationError
from raycollect.matrix import ArchiveMatrix, MatrixEntry

#: Used for a kline-like type when the config names no intervals (the seed's examples omit them).
DEFAULT_INTERVALS = ("1d",)


@dataclass(frozen=True)
class Series:
    """One (market, data type, interval) series of files, for a list of symbols."""

    entry: MatrixEntry
    interval: str | None
    symbols: tuple[str, ...]

    @property
    def market(self) -> str:
        return self.entry.market

    @property
    def data_type(self) -> str:
        return self.entry.data_type


def resolve(config: WorkflowConfig, matrix: ArchiveMatrix) -> list[Series]:
    markets = config.markets
    _check_symbol_markets(config)
    _check_data_types(config, matrix)
    wanted = _wanted_intervals(config, matrix)
    series: list[Series] = []
    for dtype in config.all_data_types:
        for market in markets:
            entry = matrix.get(market, dtype)
            if entry is None or dtype not in config.data_types_for(market):
                continue
            symbols = tuple(config.symbols_for(market))
            if not entry.intervals:
                series.append(Series(entry, None, symbols))
                continue
            for interval in wanted[market].get(dtype, DEFAULT_INTERVALS):
                if interval in entry.intervals:
                    series.append(Series(entry, interval, symbols))
    return series


def _check_symbol_markets(config: WorkflowConfig) -> None:
    if isinstance(config.symbols, dict):
        extra = [m for m in config.symbols if m not in config.markets]
        if extra:
            raise ConfigurationError(
                f"Invalid symbols in configuration: symbols given for market(s) {extra} that are not in "
                f"markets {config.markets}; add them to markets or remove them from symbols"
            )


def _check_data_types(config: WorkflowConfig, matrix: ArchiveMatrix) -> None:
    known = matrix.data_types
    if isinstance(config.data_types, dict):  # per market: each type must exist where it is asked for
        for market in config.markets:
            for dtype in config.data_types_for(market):
                if dtype in known and matrix.get(market, dtype) is None:
                    raise ConfigurationError(
                        f"Invalid data_types in configuration: '{dtype}' is not available for market {market}; it "
                        f"exists in: {', '.join(matrix.markets_with(dtype))}")
    for dtype in config.all_data_types:
        if dtype not in known:
            close = difflib.get_close_matches(dtype, known, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"known types: {', '.join(known)}"
            raise ConfigurationError(
                f"Invalid data_types in configuration: '{dtype}' is not an archive data type; {hint}"
            )
        have = [m for m in config.markets if matrix.get(m, dtype) is not None]
        if not have:
            raise ConfigurationError(
                f"Invalid data_types in configuration: '{dtype}' is not available for the selected markets "
                f"{config.markets}; it exists in: {', '.join(matrix.markets_with(dtype))}"
            )


def _wanted_intervals(config: WorkflowConfig, matrix: ArchiveMatrix) -> dict[str, dict[str, list[str]]]:
    """Intervals per market and data type, each checked against the markets that are asked for the type."""
    if config.intervals_per_market:
        extra = [m for m in config.intervals if m not in config.markets]  # type: ignore[union-attr]
        if extra:
            raise ConfigurationError(f"Invalid intervals in configuration: intervals given for market(s) {extra} "
                                     f"that are not in markets {config.markets}")
        return {m: _wanted_for(config, matrix, config.intervals_for(m), [m]) for m in config.markets}
    wanted = _wanted_for(config, matrix, config.intervals, config.markets)  # type: ignore[arg-type]
    return {m: wanted for m in config.markets}


def _wanted_for(config: WorkflowConfig, matrix: ArchiveMatrix, raw: dict[str, list[str]] | list[str] | None,
                markets: list[str]) -> dict[str, list[str]]:
    if raw is None:
        return {}
    types = list(dict.fromkeys(t for m in markets for t in config.data_types_for(m)))
    if isinstance(raw, list):
        with_intervals = [d for d in types if _entries_with_intervals(config, matrix, d, markets)]
        if not with_intervals:
            raise ConfigurationError(
                f"Invalid intervals in configuration: none of the data types {types} has intervals"
            )
        wanted = {d: raw for d in with_intervals}
    else:
        wanted = raw
    for dtype, intervals in wanted.items():
        if dtype not in types:
            raise ConfigurationError(
                f"Invalid intervals in configuration: intervals given for '{dtype}', which is not in data_types "
                f"{types}"
            )
        entries = _entries_with_intervals(config, matrix, dtype, markets)
        if not entries:
            raise ConfigurationError(
                f"Invalid intervals in configuration: '{dtype}' has no intervals; remove intervals['{dtype}']"
            )
        for interval in intervals:
            if not any(interval in e.intervals for e in entries):
                where = sorted({e.market for e in matrix.entries.values() if e.data_type == dtype
                                and interval in e.intervals})
                raise ConfigurationError(
                    f"Invalid intervals in configuration: interval '{interval}' of '{dtype}' is not available for "
                    f"the selected markets {markets}; it exists in: {', '.join(where) or 'no market'}"
                )
    return wanted


def _entries_with_intervals(config: WorkflowConfig, matrix: ArchiveMatrix, dtype: str,
                            markets: list[str]) -> list[MatrixEntry]:
    entries = [matrix.get(m, dtype) for m in markets if dtype in config.data_types_for(m)]
    return [e for e in entries if e is not None and e.intervals]


def latest_publishable(today: dt.date | None = None) -> dt.date:
    """The newest day the archive can hold: yesterday (UTC); daily files appear the day after."""
    return (today or dt.datetime.now(dt.timezone.utc).date()) - dt.timedelta(days=1)


def effective_range(config: WorkflowConfig, matrix: ArchiveMatrix,
                    today: dt.date | None = None) -> tuple[WorkflowConfig, list[str]]:
    """The config with its date range cut to what can exist, and notes on what was cut.

    A range wholly after the latest publishable day, or wholly outside every selected market's
    ``available_from``/``available_until`` for a data type, is a ConfigurationError naming the reason.
    """
    rng = config.date_range
    latest = latest_publishable(today)
    notes: list[str] = []
    if rng.start > latest:
        raise ConfigurationError(
            f"Invalid date_range: it starts {rng.start}, after {latest}, the latest day the archive can hold "
            f"(yesterday, UTC; files are published the day after): nothing can exist yet; end the range at "
            f"{latest} or earlier")
    end = rng.end
    if end > latest:
        notes.append(f"date_range ends {rng.end}, after {latest} (the latest day that can be published): "
                     f"planned {rng.start}..{latest} only")
        end = latest
    for dtype in config.all_data_types:
        windows = []
        outside = []
        for market in config.markets:
            entry = matrix.get(market, dtype)
            if entry is None or dtype not in config.data_types_for(market):
                continue
            until = entry.available_until or latest
            window = f"{market} {entry.available_from}..{entry.available_until or 'now'}"
            windows.append(window)
            if entry.available_from > end or until < rng.start:
                outside.append(window)
        if windows and len(outside) == len(windows):
            raise ConfigurationError(
                f"Invalid date_range: '{dtype}' has no files in {rng.start}..{end}; it exists in "
                f"{', '.join(windows)}; choose dates inside that window")
        for window in outside:
            notes.append(f"'{dtype}' is not planned for {window.split()[0]}: it exists there only in "
                         f"{window.split()[1]}")
    if end == rng.end:
        return config, notes
    return config.model_copy(update={"date_range": DateRange(start=rng.start, end=end)}), notes


__all__ = ["DEFAULT_INTERVALS", "Series", "effective_range", "latest_publishable", "resolve"]
