"""The exceptions raycollect raises on purpose, each picklable across Ray.

Ray ships an exception raised inside an actor back to the driver by pickling it; an exception whose
``__init__`` takes required arguments arrives as ``UnserializableException`` unless it defines
``__reduce__``. Every class here does, so the type and the message survive the trip.
"""

from __future__ import annotations

from typing import Any


class RaycollectError(Exception):
    """Base class: something the user can act on, reported as one line without a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message,))

    def __str__(self) -> str:
        return self.message


class ConfigurationError(RaycollectError):
    """The workflow config or the availability matrix is invalid (CLI exit code 2)."""


class WorkflowError(RaycollectError):
    """A run could not be carried out (the archive, Ray, or the destination failed)."""


class MirrorError(RaycollectError):
    """The local archive (SeaweedFS) could not be started, seeded or stopped."""


class PortInUse(MirrorError, ConfigurationError):
    """The port asked for the local archive is taken: a request that cannot be carried out (CLI exit code 2)."""


#: How much of an error's first line a reason keeps (rows, summaries): enough for a path and a cause.
REASON_CHARS = 300


def reason(exc: BaseException) -> str:
    """``Type: first non-empty line of the message`` (at most REASON_CHARS of it): the one way a caught exception
    becomes a reason in a row or a summary."""
    first = next((line for line in str(exc).strip().splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first[:REASON_CHARS]}" if first else type(exc).__name__
