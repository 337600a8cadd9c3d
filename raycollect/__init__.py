"""raycollect: collect the Binance public data archive at scale with Ray, verified and resumable."""

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

__version__ = "0.1.0"

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
]
