"""The driver's entry point: ``ArchiveCollectionWorkflow`` holds what a caller chose (config, storage, metrics,
options) and ``execute()`` runs one collection as a ``raycollect.run.Run``, which holds everything of that run.
It keeps the seed's API (``execute()``)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from raycollect.config import WorkflowConfig
from raycollect.metrics import MetricsCollector
from raycollect.result import RunResult
from raycollect.storage import BaseStorage, make_storage
from raycollect.stream import BATCH_ROWS


class ArchiveCollectionWorkflow:
    """Collect what ``config`` asks for from the archive onto ``storage`` (default: output_directory)."""

    def __init__(
        self,
        config: WorkflowConfig | dict[str, Any],
        metrics_collector: MetricsCollector | None = None,
        *,
        storage: BaseStorage | None = None,
        ray_address: str | None = None,
        strict: bool = False,
        show_progress: bool = True,
        only_collected: bool = False,
        sync: bool = False,
        today: dt.date | None = None,
        plan_batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.config = config if isinstance(config, WorkflowConfig) else WorkflowConfig(config)
        self.metrics = metrics_collector or MetricsCollector()
        self.storage = storage or make_storage(self.config)
        self.ray_address = ray_address
        self.strict = strict
        self.show_progress = show_progress
        self.only_collected = only_collected  # `raycollect verify`: only files an earlier run collected
        self.sync = sync  # `raycollect sync`: each series from its newest collected period to the latest day
        self.today = today  # UTC; None: the real date (tests pin it)
        self.plan_batch_rows = plan_batch_rows  # plan rows per resume batch: memory per batch, not per run
        self.stop = threading.Event()  # set by SIGINT / SIGTERM (or the caller): hand out no more shards

    # --- the seed's API ---
    def execute(self) -> RunResult:
        """Run the collection. Bad input (config, matrix, symbols, dates) and a failed preflight raise
        ConfigurationError before anything is written; anything else returns ``status: failed``."""
        from raycollect.run import Run

        self.stop.clear()
        return Run(self).execute()
