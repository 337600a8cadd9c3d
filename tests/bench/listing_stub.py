"""A listing served from files instead of the network, for bench_scale's sync over 1,000,000 keys.

SeaweedFS would need hours to hold two million objects on this machine, and the issue's target is the check
*beside* the listing itself: this stub answers ``Lister.objects`` from one Arrow file per folder (what a
real listing returns for that folder, read when asked, as pages arrive from the network), so what is
measured is the comparison with the state, the plan, resume and the manifest, not the archive's paging.
Symbol folders (``Delimiter='/'`` answers) come from the folder index.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
import pyarrow.parquet as pq


def split(listing: Path, out: Path) -> None:
    """Write one Arrow file per folder of the key-sorted ``listing`` Parquet, and ``index.json``."""
    table = pq.read_table(listing)
    folder = pc.replace_substring_regex(table["key"], pattern=r"[^/]*$", replacement="").combine_chunks()
    codes = folder.dictionary_encode()
    idx = codes.indices.to_numpy()
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    ends = np.r_[starts[1:], len(idx)]
    names = codes.dictionary.to_pylist()
    out.mkdir(parents=True, exist_ok=True)
    index = {}
    for n, (s, e) in enumerate(zip(starts, ends, strict=True)):
        feather.write_feather(table.slice(s, e - s), out / f"{n}.arrow", compression="uncompressed")
        index[names[idx[s]]] = f"{n}.arrow"
    (out / "index.json").write_text(json.dumps(index))


def install(folder: str) -> None:
    from raycollect import discovery

    root = Path(folder)
    index: dict[str, str] = json.loads((root / "index.json").read_text())
    empty = pa.schema(discovery.LISTED_SCHEMA).empty_table()

    def objects(self, prefix, start_after=None, *, max_keys=None):
        name = index.get(prefix)
        if name is None:  # a parent folder: its sub-folders, as a Delimiter listing gives them
            subs = sorted({n[: n.index("/", len(prefix)) + 1] for n in index if n.startswith(prefix)})
            self.requests += 1
            return subs, empty
        found = feather.read_table(root / name, memory_map=False)
        if start_after:
            found = found.filter(pc.greater(found["key"], start_after))
        if max_keys is not None:
            found = found.slice(0, max_keys)
        self.requests += max(1, -(-found.num_rows // 1000))
        return [], found

    discovery.Lister.objects = objects
