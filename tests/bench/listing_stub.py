"""A listing served from a Parquet file instead of the network, for bench_scale's sync over 1,000,000 keys.

SeaweedFS would need hours to hold two million objects on this machine, and the issue's target is the check
*beside* the listing itself: this stub answers ``Lister.objects`` from memory (the listing's Arrow table, held
as a real sync holds it), so what is measured is the comparison with the state, the plan, resume and the
manifest, not the archive's paging. Symbol folders (``Delimiter='/'`` answers) come from the same keys.
"""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq


def install(path: str) -> None:
    from raycollect import discovery

    table = pq.read_table(path)
    folder = pc.replace_substring_regex(table["key"], pattern=r"[^/]*$", replacement="").combine_chunks()
    codes = folder.dictionary_encode()
    idx = codes.indices.to_numpy()
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    ends = np.r_[starts[1:], len(idx)]
    names = codes.dictionary.to_pylist()
    folders = {names[idx[s]]: table.slice(s, e - s) for s, e in zip(starts, ends, strict=True)}
    empty = table.slice(0, 0)

    def objects(self, prefix, start_after=None, *, max_keys=None):
        found = folders.get(prefix)
        if found is None:  # a parent folder: its sub-folders, as a Delimiter listing gives them
            subs = sorted({n[: n.index("/", len(prefix)) + 1] for n in folders if n.startswith(prefix)})
            self.requests += 1
            return subs, empty
        if start_after:
            found = found.filter(pc.greater(found["key"], start_after))
        if max_keys is not None:
            found = found.slice(0, max_keys)
        self.requests += max(1, -(-found.num_rows // 1000))
        return [], found

    discovery.Lister.objects = objects
