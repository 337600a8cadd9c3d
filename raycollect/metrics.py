"""The seed's MetricsCollector hook: the workflow reports run start, each shard, and run end to it."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("raycollect.metrics")


class MetricsCollector:
    """Subclass and override ``record_event``; the default logs events at DEBUG level."""

    def record_event(self, name: str, **fields: Any) -> None:
        log.debug("%s %s", name, fields)


class RecordingMetricsCollector(MetricsCollector):
    """Keeps every event in memory (tests, notebooks)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def record_event(self, name: str, **fields: Any) -> None:
        self.events.append((name, fields))
