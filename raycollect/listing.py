"""What the archive's listing said, kept small: a snapshot per series, and the files it no longer lists.

Layout below ``<manifest_directory>/listing/``::

    snapshot-<written>-<token>.parquet   one row per listed series folder (SNAPSHOT_SCHEMA), the newest wins

A discovery or sync run lists every folder of its selection; the snapshot keeps, per folder, the first and
last period listed, how many files, the holes between them, and when. A run that lists some folders
replaces those rows and keeps the others, so the snapshot is a few hundred rows, rewritten in place: it does
not grow with the number of runs. The ledger (``raycollect status``) reads it beside the collection state.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from raycollect.archive import KEY_PATTERN, MARKET_PATHS
from raycollect.manifest.schema import ARCHIVE_FIELDS, COLLECTED, QUARANTINED, REMOVED, STATE_SCHEMA
from raycollect.manifest.state import State
from raycollect.manifest.writer import Publish, atomic_write

#: The error text of a ``removed`` row.
REMOVED_ERROR = "no longer listed in the archive; the local copy is kept"

SNAPSHOT_SCHEMA = pa.schema([
    ("folder", pa.string()),  # the key prefix, e.g. data/spot/daily/klines/BTCUSDT/1m/
    ("market", pa.string()), ("data_type", pa.string()), ("partition", pa.string()), ("symbol", pa.string()),
    ("interval", pa.string()), ("first_period", pa.date32()), ("last_period", pa.date32()), ("files", pa.int64()),
    ("holes", pa.list_(pa.date32())),  # periods between the first and the last that the folder does not hold
    ("listed_at", pa.timestamp("us", tz="UTC")),
])  # fmt: skip

_KEY_RE = f"^{KEY_PATTERN}$"  # the archive's key grammar, for Arrow's extract_regex
_MARKETS = {path: market for market, path in MARKET_PATHS.items()}  # data/<path>/ -> the config's market name


def snapshot_dir(manifest_dir: str | Path) -> Path:
    return Path(manifest_dir) / "listing"


def summarize(zips: pa.Table, listed_at: dt.datetime | None = None) -> pa.Table:
    """SNAPSHOT_SCHEMA rows for the listed zips (keys of the archive grammar), column-wise: the only Python work
    is per folder."""
    if zips.num_rows == 0:
        return SNAPSHOT_SCHEMA.empty_table()
    parts = pc.extract_regex(zips["key"], _KEY_RE).combine_chunks()
    parts = parts.filter(parts.is_valid())  # a key outside the grammar: null (its fields would read as "")
    table = pa.table({name: parts.field(name) for name in
                      ("folder", "market", "partition", "data_type", "symbol", "interval", "period")})
    if table.num_rows == 0:
        return SNAPSHOT_SCHEMA.empty_table()
    monthly = pc.equal(table["partition"], "monthly")
    text = pc.if_else(monthly, pc.binary_join_element_wise(table["period"], "-01", ""), table["period"])
    table = table.set_column(6, "period", pc.strptime(text, format="%Y-%m-%d", unit="s").cast(pa.date32()))
    table = table.sort_by([("folder", "ascending"), ("period", "ascending")])
    folder = table["folder"].combine_chunks().dictionary_encode()
    idx = folder.indices.to_numpy()
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    ends = np.r_[starts[1:], len(idx)]
    periods = table["period"].combine_chunks().to_numpy(zero_copy_only=False).astype("datetime64[D]")
    listed_at = listed_at or dt.datetime.now(dt.timezone.utc)
    rows: list[dict[str, object]] = []
    for s, e in zip(starts, ends, strict=True):
        first = table.slice(s, 1).to_pylist()[0]
        unit = "M" if first["partition"] == "monthly" else "D"
        got = np.unique(periods[s:e].astype(f"datetime64[{unit}]"))
        every = np.arange(got[0], got[-1] + 1, dtype=f"datetime64[{unit}]")
        holes = every[~np.isin(every, got)].astype("datetime64[D]").astype(object).tolist()
        rows.append({"folder": first["folder"], "market": _MARKETS.get(first["market"], first["market"]),
                     "data_type": first["data_type"], "partition": first["partition"], "symbol": first["symbol"],
                     "interval": first["interval"] or None, "first_period": got[0].astype("datetime64[D]").item(),
                     "last_period": got[-1].astype("datetime64[D]").item(), "files": len(got), "holes": holes,
                     "listed_at": listed_at})
    return pa.Table.from_pylist(rows, schema=SNAPSHOT_SCHEMA)


def read_snapshot(manifest_dir: str | Path) -> pa.Table:
    """The newest snapshot (SNAPSHOT_SCHEMA), or an empty table when nothing was listed yet."""
    folder = snapshot_dir(manifest_dir)
    files = sorted(folder.glob("snapshot-*.parquet")) if folder.is_dir() else []
    for path in reversed(files):
        try:
            return pq.read_table(path).cast(SNAPSHOT_SCHEMA)
        except (OSError, pa.ArrowInvalid, ValueError):
            continue
    return SNAPSHOT_SCHEMA.empty_table()


def write_snapshot(manifest_dir: str | Path, fresh: pa.Table, publish: Publish | None = None) -> Path | None:
    """Replace the rows of the folders in ``fresh`` (SNAPSHOT_SCHEMA rows, from ``summarize``) in the snapshot;
    older snapshots go."""
    if fresh.num_rows == 0:
        return None
    old = read_snapshot(manifest_dir)
    kept = old.filter(pc.invert(pc.is_in(old["folder"], value_set=fresh["folder"])))
    table = pa.concat_tables([kept, fresh]).sort_by([("folder", "ascending")])
    folder = snapshot_dir(manifest_dir)
    now = dt.datetime.now(dt.timezone.utc)
    path = folder / f"snapshot-{now:%Y%m%dT%H%M%S}{now.microsecond:06d}Z-{secrets.token_hex(3)}.parquet"
    atomic_write(table, path, publish)
    for older in sorted(folder.glob("snapshot-*.parquet")):
        if older.name < path.name:
            older.unlink(missing_ok=True)
    return path


def split_removed(unlisted: pa.Table, state: State | None) -> tuple[pa.Table, pa.Table]:
    """(removed, the rest) of the planned files a listing did not hold: removed are those the state says were
    collected (or quarantined), now gone from the archive, with the state's facts of them; a file already
    flagged removed is neither (it is not flagged twice)."""
    if state is None or state.data is None or unlisted.num_rows == 0:
        return unlisted.slice(0, 0), unlisted
    import duckdb

    from raycollect.manifest.query import sql_string, to_arrow

    con = duckdb.connect(config={"threads": 2, "memory_limit": "512MB"})
    try:
        con.register("_unlisted", pa.table({"key": unlisted["key"]}))
        facts = to_arrow(con.sql(
            f"SELECT s.* FROM read_parquet({sql_string(str(state.data))}) s JOIN _unlisted u USING (key)"))
    finally:
        con.close()
    facts = facts.select([n for n in facts.column_names if n in STATE_SCHEMA.names])
    gone = facts.filter(pc.is_in(facts["status"], value_set=pa.array([*COLLECTED, QUARANTINED])))
    flagged = facts.filter(pc.invert(pc.is_in(facts["status"], value_set=pa.array([*COLLECTED, QUARANTINED]))))
    is_gone = pc.is_in(unlisted["key"], value_set=gone["key"])
    is_flagged = pc.is_in(unlisted["key"], value_set=flagged.filter(pc.equal(flagged["status"], REMOVED))["key"])
    removed = unlisted.filter(is_gone)
    at = pc.index_in(removed["key"], value_set=gone["key"])
    for name in ("size_bytes", "sha256", "expected_sha256", "checksum_verified",
                 *[f.name for f in ARCHIVE_FIELDS]):
        column = gone[name].take(at) if name in gone.column_names else pa.nulls(removed.num_rows)
        if name in removed.column_names:
            removed = removed.set_column(removed.schema.get_field_index(name), name, column)
        else:
            removed = removed.append_column(name, column)
    return removed, unlisted.filter(pc.invert(pc.or_(is_gone, is_flagged)))
