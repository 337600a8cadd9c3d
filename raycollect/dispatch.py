"""Hand shards to downloader actors with a ``ray.wait`` loop; replace dead actors and requeue their shards.

Why not ``ray.util.ActorPool``: it runs one call per actor at a time (an actor idles while its next
shard is shipped) and does not resubmit work when an actor dies. Here each actor holds up to
``inflight_per_actor`` shards (one running, one queued behind it), results are handed to the caller as
they arrive, and only the shards in flight are held in memory, whatever the size of the run.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from raycollect.errors import WorkflowError

log = logging.getLogger(__name__)

#: Tries per shard across actors; a shard whose actor died this often is recorded as failed.
MAX_SHARD_ATTEMPTS = 3


@dataclass
class Shard:
    shard_id: int
    tasks: dict[str, list[Any]]
    attempt: int = 1


@dataclass
class _Slot:
    handle: Any
    generation: int = 0
    load: int = 0
    deaths: int = 0


def dispatch(
    shards: Iterator[Shard],
    make_actor: Callable[[int], Any],
    n_actors: int,
    on_result: Callable[[Shard, pa.RecordBatch], None],
    on_lost: Callable[[Shard, str], None],
    *,
    inflight_per_actor: int = 2,
    tick: Callable[[], None] | None = None,
    tick_seconds: float = 1.0,
    on_actors: Callable[[list[Any]], None] | None = None,
) -> dict[str, int]:
    """Run every shard; ``on_result`` gets each shard's results, ``on_lost`` each shard given up on."""
    slots = [_Slot(make_actor(i)) for i in range(n_actors)]
    if on_actors is not None:
        on_actors([s.handle for s in slots])
    queue: deque[Shard] = deque()
    inflight: dict[Any, tuple[int, int, Shard]] = {}
    exhausted = False
    stats = {"replaced_actors": 0, "requeued_shards": 0, "lost_shards": 0}
    max_replacements = max(3, n_actors * MAX_SHARD_ATTEMPTS)

    while True:
        for i, slot in enumerate(slots):
            while slot.load < inflight_per_actor:
                if queue:
                    shard = queue.popleft()
                elif not exhausted:
                    shard = next(shards, None)
                    if shard is None:
                        exhausted = True
                        break
                else:
                    break
                ref = slot.handle.run_shard.remote(shard.shard_id, shard.tasks)
                inflight[ref] = (i, slot.generation, shard)
                slot.load += 1
        if not inflight:
            break
        ready, _ = ray.wait(list(inflight), num_returns=1, timeout=tick_seconds)
        for ref in ready:
            i, generation, shard = inflight.pop(ref)
            slot = slots[i]
            if generation == slot.generation:
                slot.load -= 1
            try:
                on_result(shard, ray.get(ref))
            except (RayActorError, RayTaskError, GetTimeoutError) as exc:
                reason = _reason(exc)
                if isinstance(exc, RayActorError) and generation == slot.generation:
                    stats["replaced_actors"] += 1
                    if stats["replaced_actors"] > max_replacements:
                        raise WorkflowError(f"downloader actors keep dying ({stats['replaced_actors']} replaced); "
                                            f"last: {reason}") from None
                    log.warning("downloader actor %d died (%s); starting a replacement", i, reason)
                    slot.handle = make_actor(i)
                    slot.generation += 1
                    slot.load = 0
                    if on_actors is not None:
                        on_actors([s.handle for s in slots])
                if shard.attempt < MAX_SHARD_ATTEMPTS:
                    stats["requeued_shards"] += 1
                    queue.append(Shard(shard.shard_id, shard.tasks, shard.attempt + 1))
                else:
                    stats["lost_shards"] += 1
                    on_lost(shard, f"shard failed {shard.attempt} times; last: {reason}")
        if tick is not None:
            tick()
    for slot in slots:
        ray.kill(slot.handle, no_restart=True)
    return stats


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = next((line for line in text if line.strip()), type(exc).__name__)
    return f"{type(exc).__name__}: {first[:200]}"


def wait_ready(handles: list[Any], timeout: float = 120.0) -> list[dict[str, Any]]:
    """Block until every actor has started (its engine built), so start-up errors surface here."""
    started = time.monotonic()
    try:
        return ray.get([h.info.remote() for h in handles], timeout=timeout)
    except GetTimeoutError:
        raise WorkflowError(
            f"downloader actors did not start within {time.monotonic() - started:.0f}s; the cluster may lack "
            "free CPU slots (each actor asks for 0.5 CPU): lower max_parallel_downloads or num_actors"
        ) from None
