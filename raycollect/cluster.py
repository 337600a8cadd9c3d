"""The Ray session of a run: start a local Ray or join a cluster, stop what was started, size the actors.

Without an address raycollect starts a new local Ray, deliberately not Ray's "join whatever local
cluster is recorded in /tmp/ray" default, which can point at a stale head; ``auto`` joins one started
with ``ray start``. A local Ray that raycollect started is stopped when the run ends, on an interrupt,
and (through :mod:`raycollect.reaper`) when the driver is killed.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from raycollect.reaper import Reaper

#: CPU each downloader actor asks for (see raycollect.actors for why).
ACTOR_CPUS = 0.5


class RaySession:
    """``with RaySession(address): ...``: Ray is up inside, and what this started is stopped after."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address
        self.started = False
        self.reaper: Reaper | None = None

    def __enter__(self) -> RaySession:
        import ray

        if ray.is_initialized():
            return self
        address = self.address or os.environ.get("RAY_ADDRESS") or "local"
        kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        if address == "local":
            kwargs["include_dashboard"] = False  # a one-off cluster: skip the dashboard's start-up cost
        ray.init(address=address, **kwargs)
        self.started = True
        if address == "local":
            self.reaper = Reaper.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.started:
            return
        import ray

        ray.shutdown()
        if self.reaper is not None:
            self.reaper.release()


def actor_slots(resources: dict[str, int]) -> int:
    """How many actors the cluster can hold now: by the custom resource when set, else 2 per CPU."""
    import ray

    total = ray.cluster_resources()
    if resources:
        return min(int(total.get(name, 0) // amount) for name, amount in resources.items())
    return int(float(total.get("CPU", 1)) / ACTOR_CPUS)
