"""What a run did so far, counted from batches of its rows: ``Tally`` (counts per status and a sample of failures,
the shape every run's tally has), ``RunTally`` (a collection: bytes, figures per node) and, in
raycollect.silver.job, the conversion's.

Every update is columnar: one ``value_counts`` and a few filters per batch of manifest rows, however
many rows the batch has (ten million skipped rows cost milliseconds here, not minutes).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from raycollect.manifest.schema import Status

SAMPLE = 1000  # failures and missing keys kept for the summary and the seed's metadata


@dataclass
class Tally:
    """Counts per status and the first SAMPLE failures (key, error), from batches of rows with ``status`` (and, for
    failed rows, ``key`` and ``error``) columns."""

    counts: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)

    def add(self, table: pa.Table) -> Counter[str]:
        """Count a batch of rows; returns the batch's counts per status."""
        batch: Counter[str] = Counter()
        if table.num_rows == 0:
            return batch
        for item in pc.value_counts(table["status"]).to_pylist():
            batch[item["values"]] += item["counts"]
        self.counts.update(batch)
        if batch.get(Status.FAILED) and len(self.failures) < SAMPLE:
            bad = table.filter(pc.equal(table["status"], Status.FAILED)).slice(0, SAMPLE - len(self.failures))
            self.failures += [(r["key"], r["error"] or "") for r in bad.select(["key", "error"]).to_pylist()]
        return batch


@dataclass
class RunTally(Tally):
    """A collection's tally: manifest rows."""

    bytes: int = 0
    missing: list[str] = field(default_factory=list)
    per_node: dict[str, list[int]] = field(default_factory=dict)  # node -> [files, bytes] collected there
    monthly_collected: bool = False  # only then can the run supersede daily files
    #: Files requested from the archive (attempts > 0): success, failed, and missing after a request. Not the
    #: skipped ones, nor those discovery found unlisted (recorded missing with 0 attempts): files/s counts these.
    tried: int = 0
    #: Files fetched again because the archive replaced them (a success that names the copy it replaced).
    republished: int = 0

    def add(self, table: pa.Table) -> Counter[str]:
        """Count a batch of manifest rows; returns the batch's counts per status."""
        batch = super().add(table)
        if table.num_rows == 0:
            return batch
        self.tried += int(pc.sum(pc.greater(pc.fill_null(table["attempts"], 0), 0)).as_py() or 0)
        if batch.get(Status.SUCCESS):
            ok = pc.equal(table["status"], Status.SUCCESS)
            self.bytes += int(pc.sum(pc.filter(table["size_bytes"], ok)).as_py() or 0)
            if "previous_sha256" in table.column_names:
                self.republished += int(pc.sum(pc.and_(ok, pc.is_valid(table["previous_sha256"]))).as_py() or 0)
            if not self.monthly_collected:
                self.monthly_collected = bool(pc.any(pc.and_(ok, pc.equal(table["partition"], "monthly"))).as_py())
            nodes = table.filter(pc.and_(ok, pc.is_valid(table["node_id"])))
            if nodes.num_rows:
                for row in nodes.group_by("node_id").aggregate([("key", "count"), ("size_bytes", "sum")]).to_pylist():
                    acc = self.per_node.setdefault(row["node_id"], [0, 0])
                    acc[0] += row["key_count"]
                    acc[1] += row["size_bytes_sum"] or 0
        if batch.get(Status.MISSING) and len(self.missing) < SAMPLE:
            gone = table.filter(pc.equal(table["status"], Status.MISSING)).slice(0, SAMPLE - len(self.missing))
            self.missing += gone["key"].to_pylist()
        return batch
