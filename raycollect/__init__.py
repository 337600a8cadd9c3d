"""raycollect: collect the Binance public data archive at scale with Ray, verified and resumable.

The public names below are imported on first use (PEP 562): a Ray worker that unpickles a downloader actor
imports ``raycollect`` first, and the eager imports (pydantic's config model, the planner, the matrix) cost
it about 0.2 s of every actor's start for code it never runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "WorkflowConfig": "raycollect.config",
    "ConfigurationError": "raycollect.errors",
    "RaycollectError": "raycollect.errors",
    "WorkflowError": "raycollect.errors",
    "ArchiveMatrix": "raycollect.matrix",
    "load_matrix": "raycollect.matrix",
    "DataIngestionTask": "raycollect.models",
    "DataType": "raycollect.models",
    "DataZone": "raycollect.models",
    "Exchange": "raycollect.models",
    "IngestionMetadata": "raycollect.models",
    "Interval": "raycollect.models",
    "TradeType": "raycollect.models",
    "map_matrix_data_type": "raycollect.models",
    "build_plan": "raycollect.plan",
    "release_kept_actors": "raycollect.actor_cache",
}

__all__ = [
    "ArchiveMatrix",
    "ConfigurationError",
    "DataIngestionTask",
    "DataType",
    "DataZone",
    "Exchange",
    "IngestionMetadata",
    "Interval",
    "RaycollectError",
    "TradeType",
    "WorkflowConfig",
    "WorkflowError",
    "__version__",
    "build_plan",
    "load_matrix",
    "map_matrix_data_type",
    "release_kept_actors",
]

if TYPE_CHECKING:
    from raycollect.actor_cache import release_kept_actors
    from raycollect.config import WorkflowConfig
    from raycollect.errors import ConfigurationError, RaycollectError, WorkflowError
    from raycollect.matrix import ArchiveMatrix, load_matrix
    from raycollect.models import (
        DataIngestionTask,
        DataType,
        DataZone,
        Exchange,
        IngestionMetadata,
        Interval,
        TradeType,
        map_matrix_data_type,
    )
    from raycollect.plan import build_plan


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'raycollect' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
