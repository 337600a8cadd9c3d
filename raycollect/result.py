"""RunResult: what ``execute()`` returns, frozen and typed; the exit code is a property of it.

``to_seed_dict()`` gives the original design's result dict; ``result["status"]`` reads the same dict, so
code written against the seed keeps working, while new code uses the attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from raycollect.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNEXPECTED
from raycollect.manifest.schema import Status
from raycollect.models import DataZone, IngestionMetadata
from raycollect.progress import human_bytes


class RunStatus(str, Enum):
    """How a collection ended: the result's ``status`` and the run record's."""

    SUCCESS = "success"  # every planned file collected, skipped, or (not strict) missing
    PARTIAL = "partial"  # some files failed or were quarantined (or, strict, missing)
    FAILED = "failed"  # the run stopped on an error (``error`` says which)
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM: what finished is recorded

    def __str__(self) -> str:
        return self.value


def failed_files(counts: Mapping[str, int], *, strict: bool) -> int:
    """Files that make a run fail: failed, quarantined, and (``strict``) missing."""
    return counts.get(Status.FAILED, 0) + counts.get(Status.QUARANTINED, 0) + (
        counts.get(Status.MISSING, 0) if strict else 0)


def run_status(counts: Mapping[str, int], *, strict: bool, error: str | None, interrupted: bool) -> RunStatus:
    """A collection's status: interrupted, failed (it stopped on an error), partial (some files failed) or success."""
    if interrupted:
        return RunStatus.INTERRUPTED
    if error:
        return RunStatus.FAILED
    return RunStatus.PARTIAL if failed_files(counts, strict=strict) else RunStatus.SUCCESS


def exit_code_of(status: str, counts: Mapping[str, int], *, strict: bool, error: str | None,
                 also_failed: int = 0) -> int:
    """The exit code of a run (raycollect.exit_codes); ``also_failed``: files its conversion failed."""
    if status == RunStatus.INTERRUPTED:
        return EXIT_INTERRUPTED
    if error:
        return EXIT_UNEXPECTED
    return EXIT_FAILED if failed_files(counts, strict=strict) + also_failed else EXIT_OK


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str  # a RunStatus: success | partial | failed | interrupted
    planned: int
    counts: Mapping[str, int]  # per status: success, skipped, missing, failed
    total_bytes: int
    seconds: float
    output_directory: str
    manifest_directory: str
    metadata: IngestionMetadata
    strict: bool = False
    error: str | None = None
    failures: tuple[tuple[str, str], ...] = ()
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    per_node: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    discovery: Mapping[str, Any] | None = None
    superseded: tuple[tuple[str, int], ...] = ()
    conversion: Any = None  # raycollect.silver.job.ConversionResult when the config asked to convert
    tried: int | None = None  # files requested from the archive (attempts > 0); files/s counts these
    unlisted: int = 0  # files discovery did not find listed (a sync counts them without recording them)
    republished: int = 0  # collected files the archive replaced with new bytes, fetched again

    @property
    def zones(self) -> tuple[str, ...]:
        """The zones this run wrote: bronze (verified zips) when it committed files, silver (typed Parquet)
        when it converted some."""
        wrote = [DataZone.BRONZE.value] if self.counts.get(Status.SUCCESS, 0) else []
        if self.conversion is not None and self.conversion.wrote:
            wrote.append(DataZone.SILVER.value)
        return tuple(wrote)

    @property
    def exit_code(self) -> int:
        failed = self.conversion.counts.get(Status.FAILED, 0) if self.conversion is not None else 0
        return exit_code_of(self.status, self.counts, strict=self.strict, error=self.error, also_failed=failed)

    @property
    def files_per_second(self) -> float:
        """Files requested from the archive (success, failed, and missing after a request) per second of the run's
        wall time: one definition everywhere (progress, run summary, ``manifest summary``); skipped files and
        files discovery found unlisted were never requested."""
        return self.transferred / max(self.seconds, 1e-9)

    @property
    def transferred(self) -> int:
        if self.tried is not None:
            return self.tried
        c = self.counts
        return c.get(Status.SUCCESS, 0) + c.get(Status.FAILED, 0) + c.get(Status.MISSING, 0)

    def to_seed_dict(self) -> dict[str, Any]:
        c = self.counts
        stats = {"total_tasks": self.planned, "successful_tasks": c.get(Status.SUCCESS, 0),
                 "failed_tasks": c.get(Status.FAILED, 0), "skipped_tasks": c.get(Status.SKIPPED, 0),
                 "missing_tasks": c.get(Status.MISSING, 0), "total_bytes": self.total_bytes,
                 "processing_time_seconds": round(self.seconds, 3)}
        done = c.get(Status.SUCCESS, 0) + c.get(Status.SKIPPED, 0)
        out: dict[str, Any] = {
            "status": self.status, "metadata": self.metadata, "collection_stats": stats,
            "success_rate": round(100.0 * done / self.planned, 2) if self.planned else 100.0,
            "total_size_formatted": human_bytes(self.total_bytes), "output_directory": self.output_directory,
            "storage_zones_used": list(self.zones), "ingestion_metadata_id": self.run_id, "run_id": self.run_id,
            "manifest_directory": self.manifest_directory, "exit_code": self.exit_code,
            "failures": list(self.failures[:20]), "missing": list(self.missing[:20]), "notes": list(self.notes),
            "per_node": {k: dict(v) for k, v in self.per_node.items()}, "superseded": list(self.superseded),
            "archive_changes": {"republished": self.republished, "removed": c.get(Status.REMOVED, 0),
                                "quarantined": c.get(Status.QUARANTINED, 0)},
        }  # fmt: skip
        if self.discovery is not None:
            out["discovery"] = dict(self.discovery)
        if self.conversion is not None:
            c = self.conversion
            out["conversion"] = {**c.counts, "rows": c.rows, "bytes_in": c.bytes_in, "bytes_out": c.bytes_out,
                                 "seconds": round(c.seconds, 3), "silver_directory": c.silver_directory,
                                 "failures": list(c.failures[:20]), "unverified": c.unverified}
        if self.error:
            out.update(error=self.error, partial_results=stats)
        return out

    def __getitem__(self, key: str) -> Any:
        return self.to_seed_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_seed_dict().get(key, default)
