"""Load and validate the availability matrix: which (market, data type) pairs exist, how, and since when.

The file format is the seed's (``availability_matrix`` entries with ``market``, ``data_type``,
``intervals``, ``partitions``, ``url_pattern``, ``filename_pattern``; ``symbols``; ``metadata``),
extended with ``available_from``/``available_until`` and ``daily_intervals`` (intervals published as
daily files; the others, ``3d``/``1w``/``1mo``, exist only as monthly files).
"""

from __future__ import annotations

import datetime as dt
import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raycollect.archive import MARKET_PATHS, PARTITIONS, normalize_interval, normalize_market
from raycollect.errors import ConfigurationError

#: The matrix shipped with the package (a link to matrices/binance_archive_matrix.json in the repository).
BUNDLED_MATRIX = Path(__file__).resolve().parent / "data" / "binance_archive_matrix.json"
URL_FIELDS = frozenset({"partition", "data_type", "symbol", "interval", "filename"})
FILENAME_FIELDS = frozenset({"symbol", "interval", "data_type", "date"})
_ENTRY_KEYS = frozenset(
    {"market", "data_type", "intervals", "daily_intervals", "partitions", "available_from", "available_until",
     "notes", "url_pattern", "filename_pattern"}
)  # fmt: skip


@dataclass(frozen=True)
class MatrixEntry:
    """One (market, data type) pair of the archive."""

    market: str
    data_type: str
    intervals: tuple[str, ...]  # empty: the type has no interval folder
    daily_intervals: tuple[str, ...]  # the subset of ``intervals`` published as daily files
    partitions: tuple[str, ...]
    available_from: dt.date
    available_until: dt.date | None
    url_pattern: str  # an object key pattern; a leading ``s3://<bucket>/`` is stripped on load
    filename_pattern: str
    notes: str = ""

    def partitions_for(self, interval: str | None) -> tuple[str, ...]:
        """The partitions in which files of ``interval`` are published."""
        if interval is not None and interval not in self.daily_intervals:
            return tuple(p for p in self.partitions if p != "daily")
        return self.partitions

    def key_parts(self, partition: str, symbol: str, interval: str | None) -> tuple[str, str]:
        """(prefix, suffix) such that ``prefix + period_text + suffix`` is a file's key."""
        values = {"symbol": symbol, "interval": interval or "", "data_type": self.data_type}
        name_prefix, name_suffix = self.filename_pattern.split("{date}")
        filename = name_prefix.format(**values) + "\0" + name_suffix.format(**values)
        key = self.url_pattern.format(partition=partition, filename=filename, **values)
        prefix, suffix = key.split("\0")
        return prefix, suffix


@dataclass(frozen=True)
class ArchiveMatrix:
    entries: dict[tuple[str, str], MatrixEntry]
    symbols: dict[str, tuple[str, ...]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    def get(self, market: str, data_type: str) -> MatrixEntry | None:
        return self.entries.get((market, data_type))

    def markets_with(self, data_type: str) -> list[str]:
        return sorted(m for (m, d) in self.entries if d == data_type)

    @property
    def data_types(self) -> list[str]:
        return sorted({d for (_, d) in self.entries})


def load_matrix(path: str | Path) -> ArchiveMatrix:
    """Read and validate a matrix file; every problem is a ConfigurationError naming the entry."""
    p = Path(path)
    if not p.is_file():
        raise ConfigurationError(f"Archive matrix file not found: {path}")
    text = p.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"Archive matrix {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    return parse_matrix(doc, str(path))


def parse_matrix(doc: Any, path: str = "<matrix>") -> ArchiveMatrix:
    def fail(msg: str) -> ConfigurationError:
        return ConfigurationError(f"Invalid archive matrix {path}: {msg}")

    if not isinstance(doc, dict) or not isinstance(doc.get("availability_matrix"), list):
        raise fail("expected an object with an 'availability_matrix' list")
    entries: dict[tuple[str, str], MatrixEntry] = {}
    for i, raw in enumerate(doc["availability_matrix"]):
        entry = _parse_entry(raw, f"entry {i}", fail)
        pair = (entry.market, entry.data_type)
        if pair in entries:
            raise fail(f"entry {i}: duplicate entry for {entry.market}/{entry.data_type}")
        entries[pair] = entry
    if not entries:
        raise fail("'availability_matrix' is empty")
    symbols_raw = doc.get("symbols", {})
    if not isinstance(symbols_raw, dict):
        raise fail("'symbols' must be an object of market -> list of symbols")
    symbols = {str(k): tuple(str(s) for s in v) for k, v in symbols_raw.items() if isinstance(v, list)}
    metadata = doc.get("metadata", {})
    return ArchiveMatrix(entries, symbols, metadata if isinstance(metadata, dict) else {}, path)


def _parse_entry(raw: Any, where: str, fail: Any) -> MatrixEntry:
    _check_fields(raw, where, fail)
    market = normalize_market(str(raw["market"]))
    if market is None:
        raise fail(f"{where}: unknown market {raw['market']!r}; expected one of {sorted(MARKET_PATHS)}")
    data_type = str(raw["data_type"])
    where = f"{where} ({market}/{data_type})"
    partitions = raw["partitions"]
    if not isinstance(partitions, list) or not partitions:
        raise fail(f"{where}: 'partitions' must be a non-empty list")
    for part in partitions:
        if part not in PARTITIONS:
            raise fail(f"{where}: unknown partition {part!r}; expected 'daily' or 'monthly'")
    intervals = _intervals(raw.get("intervals", []), where, "intervals", fail)
    daily = _intervals(raw.get("daily_intervals", list(intervals)), where, "daily_intervals", fail)
    if not set(daily) <= set(intervals):
        raise fail(f"{where}: 'daily_intervals' {sorted(set(daily) - set(intervals))} are not in 'intervals'")
    frm = _date(raw["available_from"], where, "available_from", fail)
    until = _date(raw["available_until"], where, "available_until", fail) if raw.get("available_until") else None
    if until is not None and until < frm:
        raise fail(f"{where}: available_until {until} is before available_from {frm}")
    url, fname = _patterns(raw, bool(intervals), where, fail)
    return MatrixEntry(
        market, data_type, intervals, daily, tuple(partitions), frm, until, url, fname, str(raw.get("notes", ""))
    )


def _check_fields(raw: Any, where: str, fail: Any) -> None:
    """An object with the required fields and no unknown one."""
    if not isinstance(raw, dict):
        raise fail(f"{where}: expected an object")
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise fail(f"{where}: unknown field(s) {unknown}; allowed: {sorted(_ENTRY_KEYS)}")
    for name in ("market", "data_type", "partitions", "available_from", "url_pattern", "filename_pattern"):
        if name not in raw:
            raise fail(f"{where}: missing field '{name}'")


def _patterns(raw: dict[str, Any], has_intervals: bool, where: str, fail: Any) -> tuple[str, str]:
    """(url_pattern without an s3:// bucket, filename_pattern), each checked."""
    url = str(raw["url_pattern"])
    if url.startswith("s3://"):
        url = url.split("/", 3)[3] if url.count("/") >= 3 else ""
    fname = str(raw["filename_pattern"])
    _check_pattern(url, URL_FIELDS, where, "url_pattern", fail)
    _check_pattern(fname, FILENAME_FIELDS, where, "filename_pattern", fail)
    if fname.count("{date}") != 1:
        raise fail(f"{where}: 'filename_pattern' must contain {{date}} exactly once")
    if url.count("{filename}") != 1 or not url.endswith("{filename}"):
        raise fail(f"{where}: 'url_pattern' must end with {{filename}}")
    if has_intervals != ("{interval}" in url):
        what = "has intervals but" if has_intervals else "has no intervals but"
        raise fail(f"{where}: the entry {what} 'url_pattern' {'lacks' if has_intervals else 'uses'} {{interval}}")
    return url, fname


def _intervals(value: Any, where: str, name: str, fail: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise fail(f"{where}: '{name}' must be a list")
    out: list[str] = []
    for item in value:
        if item is None:  # the seed writes [null] for "no interval"
            continue
        norm = normalize_interval(str(item))
        if norm is None:
            raise fail(f"{where}: unknown interval {item!r} in '{name}'")
        out.append(norm)
    return tuple(out)


def _date(value: Any, where: str, name: str, fail: Any) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise fail(f"{where}: '{name}' {value!r} is not a date (YYYY-MM-DD)") from None


def _check_pattern(pattern: str, allowed: frozenset[str], where: str, name: str, fail: Any) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as exc:
        raise fail(f"{where}: '{name}' {pattern!r} is malformed: {exc}") from None
    for f in fields:
        if f not in allowed:
            raise fail(f"{where}: unknown placeholder {{{f}}} in '{name}'; allowed: {sorted(allowed)}")
