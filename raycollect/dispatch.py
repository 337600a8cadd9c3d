"""Hand shards to downloader actors with a ``ray.wait`` loop; replace dead actors and requeue their shards.

Why not ``ray.util.ActorPool``: it runs one call per actor at a time (an actor idles while its next
shard is shipped) and does not resubmit work when an actor dies. Here each actor holds up to
``inflight_per_actor`` shards (one running, one queued behind it), results are handed to the caller as
they arrive, and only the shards in flight are held in memory, whatever the size of the run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import ray
from ray.exceptions import GetTimeoutError, ObjectLostError, RayActorError, RayTaskError

from raycollect.downloaders.retry import SHARD_ATTEMPTS
from raycollect.errors import WorkflowError

log = logging.getLogger(__name__)

#: Tries per shard across actors; a shard whose actor died this often is recorded as failed.
MAX_SHARD_ATTEMPTS = SHARD_ATTEMPTS
#: After an interrupt, how long shards already running may take to finish before they are cancelled.
GRACE_SECONDS = 10.0


@dataclass
class Shard:
    """A slice of the plan to fetch: its rows stay with the driver; actors get ``tasks`` (4 columns)."""

    shard_id: int
    rows: Any  # pa.Table with at least key, checksum_key, target, verify_existing
    attempt: int = 1

    @property
    def tasks(self) -> Any:
        if isinstance(self.rows, pa.Table):
            return self.rows.select(["key", "checksum_key", "target", "verify_existing"])
        return self.rows  # any other payload goes to the actor as it is


@dataclass
class _Slot:
    handle: Any
    ready_ref: Any  # the actor's info() call: resolves once it is placed and its engine is built
    info: dict[str, Any] | None = None
    error: str | None = None  # set when the actor died before it was ready
    generation: int = 0
    load: int = 0

    @property
    def ready(self) -> bool:
        return self.info is not None

    @property
    def starting(self) -> bool:
        return self.info is None and self.error is None


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
    on_actors: Callable[[list[dict[str, Any]]], None] | None = None,
    start_timeout: float = 120.0,
    stop: threading.Event | None = None,
    grace_seconds: float = GRACE_SECONDS,
    keep: Callable[[list[Any]], None] | None = None,
) -> dict[str, int]:
    """Run every shard; ``on_result`` gets each shard's results, ``on_lost`` each shard given up on.

    Shards go only to actors that are placed and ready. A replacement that cannot be placed (its node is
    gone and no other node has room) never receives work, so the surviving actors finish the run.
    When ``stop`` is set (an interrupt), no further shard is handed out; shards already running get
    ``grace_seconds`` to finish (their results still reach ``on_result``), then the actors are killed.
    The stats then count ``cancelled_shards``: shards that never reported (their files have no row).
    ``keep``: at the end of a run that ended normally (not interrupted), it is given the actors that closed
    cleanly (their staging removed, their engine kept: ``close(keep_engine=True)``) instead of their being
    killed.
    """
    def new_slot(i: int) -> _Slot:
        handle = make_actor(i)
        return _Slot(handle, handle.info.remote())

    slots = [new_slot(i) for i in range(n_actors)]
    _await_first(slots, start_timeout)
    if on_actors is not None:
        on_actors([s.info for s in slots if s.info])
    queue: deque[Shard] = deque()
    inflight: dict[Any, tuple[int, int, Shard]] = {}
    exhausted = False
    stats = {"replaced_actors": 0, "requeued_shards": 0, "lost_shards": 0, "cancelled_shards": 0}
    max_replacements = max(3, n_actors * MAX_SHARD_ATTEMPTS)
    stopped_at: float | None = None

    cancelled = False
    try:
        while True:
            if stop is not None and stop.is_set():
                if stopped_at is None:
                    stopped_at = time.monotonic()
                    log.warning("interrupted: no new shards; waiting up to %.0fs for %d running", grace_seconds,
                                len(inflight))
                    stats["cancelled_shards"] += len(queue)
                    queue.clear()
                    exhausted = True  # shards never read from the iterator are simply not counted
                if not inflight or time.monotonic() - stopped_at > grace_seconds:
                    stats["cancelled_shards"] += len(inflight)
                    break
            if _poll_ready(slots) and on_actors is not None:
                on_actors([s.info for s in slots if s.info])
            # Every ready actor without work gets a shard first; then a second one each (queued in the actor,
            # so it never waits for a round trip between shards), but only while the shards left outnumber the
            # actors still starting: at the end of a run, or with one shard per actor, a shard waits for an
            # actor about to be ready rather than queue behind another actor's shard.
            starting = sum(s.starting for s in slots)
            for depth in range(inflight_per_actor):
                need = 1 if depth == 0 else starting + 1
                for i, slot in enumerate(slots):
                    if not slot.ready or slot.load != depth:
                        continue
                    while len(queue) < need and not exhausted:
                        nxt = next(shards, None)
                        if nxt is None:
                            exhausted = True
                        else:
                            queue.append(nxt)
                    if len(queue) < need:
                        break
                    shard = queue.popleft()
                    ref = slot.handle.run_shard.remote(shard.shard_id, shard.tasks)
                    inflight[ref] = (i, slot.generation, shard)
                    slot.load += 1
            if not inflight:
                if (queue or not exhausted) and not any(s.ready for s in slots):
                    # Work is left but no actor is ready (all died, replacements still starting): wait for one
                    # rather than end the run with shards never handed out.
                    _await_first(slots, start_timeout)
                    continue
                break
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=tick_seconds)
            for ref in ready:
                i, generation, shard = inflight.pop(ref)
                slot = slots[i]
                if generation == slot.generation:
                    slot.load -= 1
                try:
                    on_result(shard, ray.get(ref))
                except (RayActorError, RayTaskError, GetTimeoutError, ObjectLostError) as exc:
                    reason = _reason(exc)
                    if isinstance(exc, RayActorError) and generation == slot.generation:
                        stats["replaced_actors"] += 1
                        if stats["replaced_actors"] > max_replacements:
                            raise WorkflowError(f"downloader actors keep dying ({stats['replaced_actors']} replaced); "
                                                f"last: {reason}") from None
                        log.warning("downloader actor %d died (%s); starting a replacement", i, reason)
                        fresh = new_slot(i)
                        fresh.generation = slot.generation + 1
                        slots[i] = fresh
                    if shard.attempt < MAX_SHARD_ATTEMPTS:
                        stats["requeued_shards"] += 1
                        queue.append(Shard(shard.shard_id, shard.rows, shard.attempt + 1))
                    else:
                        stats["lost_shards"] += 1
                        on_lost(shard, f"shard failed {shard.attempt} times; last: {reason}")
            if tick is not None:
                tick()
    except BaseException:
        cancelled = True
        raise
    finally:
        # An interrupted run keeps no actor, even when every shard it had started finished within the grace.
        interrupted = stop is not None and stop.is_set()
        _release(slots, graceful=not cancelled and not stats["cancelled_shards"], keep=None if interrupted else keep)
    return stats


def _release(slots: list[_Slot], *, graceful: bool, keep: Callable[[list[Any]], None] | None = None) -> None:
    """Let ready actors remove their staging, then kill every actor so idle nodes can scale down; or, with
    ``keep`` after a run that ended normally, hand it those that closed cleanly."""
    kept: list[_Slot] = []
    if graceful:
        refs: dict[Any, _Slot] = {}
        for s in slots:
            with contextlib.suppress(AttributeError):  # an actor class without close() has nothing to clean
                if s.ready:
                    close = s.handle.close.remote(keep_engine=True) if keep is not None else s.handle.close.remote()
                    refs[close] = s
        done: list[Any] = []
        with contextlib.suppress(Exception):
            done, _ = ray.wait(list(refs), num_returns=len(refs), timeout=10.0)
        if keep is not None:
            for ref in done:
                with contextlib.suppress(Exception):  # died or failed while closing: killed below
                    ray.get(ref)
                    kept.append(refs[ref])
            keep([s.handle for s in kept])
    kept_ids = {id(s) for s in kept}
    for slot in slots:
        if id(slot) not in kept_ids:
            with contextlib.suppress(Exception):
                ray.kill(slot.handle, no_restart=True)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = next((line for line in text if line.strip()), type(exc).__name__)
    return f"{type(exc).__name__}: {first[:200]}"


def _poll_ready(slots: list[_Slot]) -> bool:
    """Settle the actors still starting (ready, or dead with a reason); True when any became ready now."""
    starting = [s for s in slots if s.starting]
    if not starting:
        return False
    done, _ = ray.wait([s.ready_ref for s in starting], num_returns=len(starting), timeout=0)
    changed = False
    for s in starting:
        if s.ready_ref in done:
            try:
                s.info = ray.get(s.ready_ref)
                changed = True
            except Exception as exc:  # noqa: BLE001 - died while starting: record why, never poll it again
                s.error = _reason(exc)
    return changed


def _await_first(slots: list[_Slot], timeout: float) -> None:
    """Block until at least one actor is ready, so start-up errors surface here with a clear message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _poll_ready(slots)
        if any(s.ready for s in slots):
            return
        starting = [s.ready_ref for s in slots if s.starting]
        if not starting:
            raise WorkflowError(f"downloader actors failed to start: {next(s.error for s in slots if s.error)}")
        ray.wait(starting, num_returns=1, timeout=min(5.0, max(0.0, deadline - time.monotonic())))
    raise WorkflowError(
        f"downloader actors did not start within {timeout:.0f}s; the cluster may lack free slots (each actor "
        "asks for 0.5 CPU, and the downloader resource when configured): lower num_actors or add nodes"
    )
