"""SIGINT and SIGTERM during a run: wind down, record, clean up (exit 130); a second signal aborts."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)


@contextlib.contextmanager
def interrupts(stop: threading.Event) -> Iterator[Callable[[], None]]:
    """SIGINT and SIGTERM set ``stop``; a second one raises KeyboardInterrupt.

    Yields a function that installs the handlers again, after a library (Ray) replaced them.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        log.warning("%s: stopping after the shards in flight (again to abort)", signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def install() -> None:
        for sig in previous:
            signal.signal(sig, handler)

    try:
        yield install
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
