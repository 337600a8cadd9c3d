"""Where collected files land: the seed's pluggable storage interface and the local-directory store.

A storage maps a planned file to a path below a root. The default mirrors the archive key, so
``data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2026-05-08.zip`` lands at the same relative path.
Every path is checked to stay inside the root: a key or a custom layout can never write elsewhere.
"""

from __future__ import annotations

import datetime as dt
import os
from abc import ABC, abstractmethod
from pathlib import Path

from raycollect.errors import ConfigurationError, WorkflowError


class BaseStorage(ABC):
    """The seed's storage interface: a root plus a partition layout."""

    def __init__(self, root: str | Path) -> None:
        text = str(root)
        if any(c in text for c in "\r\n\0"):
            raise ConfigurationError(f"output_directory {text!r} contains a control character; choose another path")
        self.root = Path(root).expanduser().resolve()

    @abstractmethod
    def get_partition_path(
        self, *, market: str, data_type: str, partition: str, symbol: str, interval: str | None, period: dt.date,
        key: str,
    ) -> str:
        """The file's path relative to the root."""

    def resolve(self, relative: str) -> Path:
        """The absolute path of ``relative`` below the root; anything that would leave the root is refused."""
        if not relative or relative.startswith(("/", "\\")) or "\0" in relative:
            raise WorkflowError(f"refusing target path {relative!r}: not a relative path")
        path = Path(os.path.normpath(self.root / relative))
        if path == self.root or self.root not in path.parents:
            raise WorkflowError(f"refusing target path {relative!r}: it resolves outside {self.root}")
        return path


class LocalStorage(BaseStorage):
    """A local or shared-filesystem directory; files mirror their archive keys below it."""

    def get_partition_path(
        self, *, market: str, data_type: str, partition: str, symbol: str, interval: str | None, period: dt.date,
        key: str,
    ) -> str:
        return key
