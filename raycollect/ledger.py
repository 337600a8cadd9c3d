"""The condition ledger (``raycollect status``): per series and day, one condition from a closed list.

A query over what is already kept, with no second truth:
- the collection state (newest facts per key, with ``revisions``; raycollect.manifest.state);
- the listing snapshot (first and last period listed per folder, and the holes; raycollect.listing);
- silver's conversion rows (a day whose file failed to convert or holds far fewer rows than expected).

Conditions, in the order they win when several apply to one day (a monthly file's applies to each of its days):
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from raycollect.config import WorkflowConfig
    from raycollect.matrix import ArchiveMatrix

#: The closed list of conditions, and what each means for a user's data.
CONDITIONS: dict[str, str] = {
    "quarantined": "the archive's file matched its sidecar but is not one usable file; kept aside, not converted",
    "removed": "collected once, no longer listed by the archive; the local copy is kept",
    "degraded": "collected, but its rows are far below the expected count, or it failed to convert",
    "re-published": "collected, and replaced since by new bytes from the archive (the newest are kept)",
    "collected": "collected and verified",
    "not-collected": "listed by the archive, not collected yet (or its collection failed)",
    "missing": "a hole: not in the archive, between the series' first and last listed day",
    "not-published": "after the last listed day, within the archive's usual delay",
    "before-listing": "before the series' first listed day",
    "after-delisting": "after the series' last listed day, past the usual delay: the series stopped",
}
__doc__ = (__doc__ or "") + "\n".join(f"- ``{k}``: {v};" for k, v in CONDITIONS.items())
#: Days after the last listed day within which later days count as not published yet (daily files appear the
#: next day, sometimes later).
PUBLISH_DELAY_DAYS = 3
#: A converted day with fewer rows than this share of the expected count is degraded (e.g. 420 of 1,440
#: one-minute candles, binance-public-data#413).
DEGRADED_SHARE = 0.9

DAY_SCHEMA = pa.schema([
    ("market", pa.string()), ("data_type", pa.string()), ("symbol", pa.string()), ("interval", pa.string()),
    ("day", pa.date32()), ("condition", pa.string()), ("partition", pa.string()), ("revisions", pa.int32()),
    ("detail", pa.string()), ("changed_at", pa.timestamp("us", tz="UTC")),
    ("archive_first", pa.date32()), ("archive_last", pa.date32()),  # the series' first and last listed day
])  # fmt: skip


@dataclass(frozen=True)
class Filters:
    market: str | None = None
    data_type: str | None = None
    symbol: str | None = None
    interval: str | None = None
    since: dt.date | None = None


def series_allowed(config: WorkflowConfig, matrix: ArchiveMatrix) -> list[tuple[str, str, str | None, tuple[str, ...]]]:
    """(market, data type, interval, symbols or patterns) the config selects."""
    from raycollect.selection import resolve

    return [(s.market, s.data_type, s.interval, s.symbols) for s in resolve(config, matrix)]


def ledger(manifest_dir: str | Path, selection: list[tuple[str, str, str | None, tuple[str, ...]]], *,
           start: dt.date, today: dt.date, filters: Filters = Filters()) -> pa.Table:
    """DAY_SCHEMA rows: one per selected series and day, from ``start`` (or the series' first listed or collected
    day, when earlier) to yesterday."""
    import duckdb

    from raycollect.listing import read_snapshot
    from raycollect.manifest.query import to_arrow
    from raycollect.manifest.state import read_state

    state = read_state(manifest_dir)
    snapshot = read_snapshot(manifest_dir)
    con = duckdb.connect(config={"threads": 2, "memory_limit": "1GB"})
    try:
        con.register("snapshot", snapshot)
        con.register("degraded", _degraded(manifest_dir))
        if state.data is not None:
            from raycollect.manifest.query import sql_string

            con.sql(f"CREATE VIEW state AS SELECT * FROM read_parquet({sql_string(str(state.data))})")
        else:
            con.sql("CREATE VIEW state AS SELECT NULL::VARCHAR AS market, NULL::VARCHAR AS data_type, "
                    "NULL::VARCHAR AS symbol, NULL::VARCHAR AS interval, NULL::VARCHAR AS partition, "
                    "NULL::DATE AS period, NULL::VARCHAR AS status, NULL::INTEGER AS revisions, "
                    "NULL::TIMESTAMPTZ AS finished_at, NULL::VARCHAR AS error, NULL::VARCHAR AS key WHERE false")
        found = con.sql("SELECT DISTINCT market, data_type, symbol, interval FROM state UNION "
                        "SELECT DISTINCT market, data_type, symbol, interval FROM snapshot").fetchall()
        chosen = [s for s in found if _selected(s, selection, filters)]
        con.register("chosen", pa.table({n: pa.array([s[i] for s in chosen], pa.string()) for i, n in
                                         enumerate(("market", "data_type", "symbol", "interval"))}))
        days = to_arrow(con.sql(_LEDGER_SQL, params={"start": start, "today": today,
                                                     "delay": PUBLISH_DELAY_DAYS}))
    finally:
        con.close()
    days = days.cast(DAY_SCHEMA)
    if filters.since is not None:
        import pyarrow.compute as pc

        since = pa.scalar(dt.datetime.combine(filters.since, dt.time(), dt.timezone.utc), DAY_SCHEMA.field(
            "changed_at").type)
        days = days.filter(pc.fill_null(pc.greater_equal(days["changed_at"], since), False))
    return days


def _selected(series: tuple[str, str, str | None, str | None], selection: list[tuple[str, str, str | None,
              tuple[str, ...]]], f: Filters) -> bool:
    market, data_type, symbol, interval = series
    if symbol is None or (f.market and market != f.market) or (f.data_type and data_type != f.data_type):
        return False
    if (f.symbol and not fnmatch.fnmatchcase(symbol, f.symbol)) or (f.interval and interval != f.interval):
        return False
    return any(m == market and d == data_type and i == interval and any(fnmatch.fnmatchcase(symbol, p) for p in syms)
               for m, d, i, syms in selection)


def _degraded(manifest_dir: str | Path) -> pa.Table:
    """(key, detail) of the collected files whose newest conversion failed or holds far fewer rows than expected."""
    from raycollect.silver.manifest import ConversionStatus, newest_quality

    keys: list[str] = []
    details: list[str] = []
    for r in newest_quality(manifest_dir).to_pylist():
        good_rows = (r["rows"] or 0) - (r["duplicate_rows"] or 0)
        if r["status"] == ConversionStatus.FAILED:
            detail = f"failed to convert: {r['error']}"
        elif not r["rows"]:
            detail = "no row"
        elif r["expected_rows"] and good_rows < DEGRADED_SHARE * r["expected_rows"]:
            detail = f"{good_rows:,} of {r['expected_rows']:,} rows"
        else:
            continue
        keys.append(r["key"])
        details.append(detail)
    return pa.table({"key": pa.array(keys, pa.string()), "detail": pa.array(details, pa.string())})


# Per chosen series: its listed days (the snapshot's folders, a monthly folder's months as their days), its
# collected facts (a monthly file's for each of its days; a daily file's win over its month's), the degraded
# days; then one row per day from the earliest of (start, first listed, first collected) to yesterday.
_LEDGER_SQL = """
WITH folders AS (
  SELECT s.* FROM snapshot s
  JOIN chosen c ON s.market = c.market AND s.data_type = c.data_type AND s.symbol = c.symbol
   AND s.interval IS NOT DISTINCT FROM c.interval
), listed AS (
  SELECT DISTINCT market, data_type, symbol, interval, d::DATE AS day FROM (
    SELECT market, data_type, symbol, interval, holes, partition, unnest(generate_series(first_period,
      CASE WHEN partition = 'monthly' THEN last_period + INTERVAL 1 MONTH - INTERVAL 1 DAY ELSE last_period END,
      INTERVAL 1 DAY)) AS d FROM folders)
  WHERE NOT list_contains(holes, CASE WHEN partition = 'monthly' THEN date_trunc('month', d)::DATE ELSE d::DATE END)
), span AS (
  SELECT market, data_type, symbol, interval, min(day) AS first_day, max(day) AS last_day FROM listed GROUP BY ALL
), facts AS (
  SELECT market, data_type, symbol, interval, d::DATE AS day, status, revisions, finished_at, error, partition, key
  FROM (SELECT st.*, unnest(generate_series(period, CASE WHEN partition = 'monthly'
          THEN period + INTERVAL 1 MONTH - INTERVAL 1 DAY ELSE period END, INTERVAL 1 DAY)) AS d
        FROM state st JOIN chosen c ON st.market = c.market AND st.data_type = c.data_type
         AND st.symbol = c.symbol AND st.interval IS NOT DISTINCT FROM c.interval)
  QUALIFY row_number() OVER (PARTITION BY market, data_type, symbol, interval, d
                             ORDER BY partition = 'daily' DESC, finished_at DESC) = 1
), bounds AS (
  SELECT c.*, least($start, sp.first_day, (SELECT min(day) FROM facts f WHERE f.market = c.market
      AND f.data_type = c.data_type AND f.symbol = c.symbol AND f.interval IS NOT DISTINCT FROM c.interval)) AS lo,
    sp.first_day, sp.last_day
  FROM chosen c LEFT JOIN span sp ON sp.market = c.market AND sp.data_type = c.data_type AND sp.symbol = c.symbol
   AND sp.interval IS NOT DISTINCT FROM c.interval
), days AS (
  SELECT market, data_type, symbol, interval, first_day, last_day,
    unnest(generate_series(lo, $today - INTERVAL 1 DAY, INTERVAL 1 DAY))::DATE AS day FROM bounds
)
SELECT d.market, d.data_type, d.symbol, d.interval, d.day,
  CASE
    WHEN f.status = 'quarantined' THEN 'quarantined'
    WHEN f.status = 'removed' THEN 'removed'
    WHEN f.status IN ('success', 'skipped') AND b.key IS NOT NULL THEN 'degraded'
    WHEN f.status IN ('success', 'skipped') AND f.revisions > 0 THEN 're-published'
    WHEN f.status IN ('success', 'skipped') THEN 'collected'
    WHEN l.day IS NOT NULL THEN 'not-collected'
    WHEN d.first_day IS NULL THEN 'not-collected'
    WHEN d.day < d.first_day THEN 'before-listing'
    WHEN d.day <= d.last_day THEN 'missing'
    WHEN $today - d.last_day <= $delay + 1 THEN 'not-published'
    ELSE 'after-delisting'
  END AS condition,
  f.partition, f.revisions,
  CASE WHEN f.status IN ('quarantined', 'failed', 'removed') THEN f.error
       WHEN f.status IN ('success', 'skipped') AND b.key IS NOT NULL THEN b.detail END AS detail,
  f.finished_at AS changed_at, d.first_day AS archive_first, d.last_day AS archive_last
FROM days d
LEFT JOIN facts f ON f.market = d.market AND f.data_type = d.data_type AND f.symbol = d.symbol
  AND f.interval IS NOT DISTINCT FROM d.interval AND f.day = d.day
LEFT JOIN listed l ON l.market = d.market AND l.data_type = d.data_type AND l.symbol = d.symbol
  AND l.interval IS NOT DISTINCT FROM d.interval AND l.day = d.day
LEFT JOIN degraded b ON b.key = f.key
ORDER BY d.market, d.data_type, d.symbol, d.interval, d.day
"""


def summaries(days: pa.Table) -> list[str]:
    """One line per series that a person reads first, e.g. ``spot klines BTCUSDT 1m: 2017-08-17..2026-12-04,
    3,032 days collected, 2 holes (2018-02-08..09), 1 re-published (2023-04-13), fresh``."""
    lines: list[str] = []
    by_series: dict[tuple[str, str, str, str | None], list[dict[str, Any]]] = {}
    for row in days.to_pylist():
        by_series.setdefault((row["market"], row["data_type"], row["symbol"], row["interval"]), []).append(row)
    for (market, data_type, symbol, interval), rows in by_series.items():
        name = " ".join(x for x in (market, data_type, symbol, interval) if x)
        first, last = rows[0]["archive_first"], rows[0]["archive_last"]
        have = [r["day"] for r in rows if r["condition"] in ("collected", "re-published", "degraded")]
        parts = [f"{first}..{last}" if first else "not listed (run `raycollect sync` to list the archive)"]
        parts.append(f"{len(have):,} day{'' if len(have) == 1 else 's'} collected")
        for condition, label in (("missing", "holes"), ("re-published", "re-published"), ("degraded", "degraded"),
                                 ("removed", "removed"), ("quarantined", "quarantined"),
                                 ("not-collected", "not collected")):
            got = [r["day"] for r in rows if r["condition"] == condition]
            if got:
                word = label if not (label == "holes" and len(got) == 1) else "hole"
                parts.append(f"{len(got):,} {word} ({_ranges(got)})")
        parts.append(_freshness(rows, have, last))
        lines.append(f"{name}: {', '.join(parts)}")
    return lines


def _freshness(rows: list[dict[str, Any]], have: list[dt.date], last: dt.date | None) -> str:
    """``fresh``, ``behind: the archive has up to X, you have up to Y``, or ``stopped ...``."""
    if last is None:
        return "freshness unknown"
    if any(r["condition"] == "after-delisting" for r in rows):
        return f"stopped: the archive's last day is {last}"
    if have and max(have) >= last:
        return "fresh"
    return f"behind: the archive has up to {last}, you have up to {max(have) if have else 'nothing'}"


#: Conditions the table format lists day ranges of (the others are in the series' line).
NOTABLE = ("quarantined", "removed", "degraded", "re-published", "not-collected", "missing", "not-published",
           "after-delisting")


def ranges_table(days: pa.Table) -> list[dict[str, Any]]:
    """Runs of consecutive days with one NOTABLE condition (and detail) per series: series, first, last, days,
    condition, detail."""
    out: list[dict[str, Any]] = []
    for row in days.to_pylist():
        if row["condition"] not in NOTABLE:
            continue
        name = " ".join(x for x in (row["market"], row["data_type"], row["symbol"], row["interval"]) if x)
        last = out[-1] if out else None
        if (last is not None and last["series"] == name and last["condition"] == row["condition"]
                and last["detail"] == (row["detail"] or "") and row["day"] - last["last"] == dt.timedelta(days=1)):
            last["last"] = row["day"]
            last["days"] += 1
            continue
        out.append({"series": name, "first": row["day"], "last": row["day"], "days": 1,
                    "condition": row["condition"], "detail": row["detail"] or ""})
    return out


def _ranges(days: list[dt.date], limit: int = 3) -> str:
    """``2018-02-08..09, 2019-01-01`` (consecutive days joined; at most ``limit`` ranges, then ``...``)."""
    days = sorted(days)
    ranges: list[tuple[dt.date, dt.date]] = []
    for d in days:
        if ranges and d - ranges[-1][1] == dt.timedelta(days=1):
            ranges[-1] = (ranges[-1][0], d)
        else:
            ranges.append((d, d))
    text = [_range(a, b) for a, b in ranges[:limit]]
    return ", ".join(text) + (", ..." if len(ranges) > limit else "")


def _range(a: dt.date, b: dt.date) -> str:
    if a == b:
        return a.isoformat()
    if (a.year, a.month) == (b.year, b.month):
        return f"{a}..{b.day:02d}"
    return f"{a}..{b}"
