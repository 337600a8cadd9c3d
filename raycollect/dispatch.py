"""Hand shards to Ray workers with a ``ray.wait`` loop; replace dead actors and requeue their shards.

``Dispatcher`` does it in four steps a turn (drain on a stop, fill ready actors, collect results, replace lost
actors) and tells a ``Sink`` (the run) what happened; every Ray call goes through ``RayCalls``, which a unit
test replaces with a scripted fake (tests/unit/test_dispatcher.py). The collection runs shards on downloader
actors (``RayCalls``); silver's conversion runs them as Ray tasks (``TaskCalls``: one lane per CPU), through the
same loop.

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
from typing import Any, Protocol

import pyarrow as pa
import ray
from ray.exceptions import (
    GetTimeoutError,
    NodeDiedError,
    ObjectLostError,
    OutOfMemoryError,
    RayActorError,
    RayTaskError,
    WorkerCrashedError,
)

from raycollect.downloaders.retry import SHARD_ATTEMPTS
from raycollect.errors import WorkflowError, reason

log = logging.getLogger(__name__)

#: Tries per shard across actors; a shard whose actor died this often is recorded as failed.
MAX_SHARD_ATTEMPTS = SHARD_ATTEMPTS
#: After an interrupt, how long shards already running may take to finish before they are cancelled.
GRACE_SECONDS = 10.0


@dataclass
class Shard:
    """A slice of the work: its rows stay with the driver; workers get ``tasks`` (for a plan slice, 4 columns)."""

    shard_id: int
    rows: Any  # a plan slice: pa.Table with at least key, checksum_key, target, verify_existing; or any payload
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


class Sink(Protocol):
    """What a dispatch tells its run: a shard's results, a shard given up on, the actors placed, a pulse."""

    def on_result(self, shard: Shard, results: Any) -> None: ...
    def on_lost(self, shard: Shard, reason: str) -> None: ...
    def on_actors(self, infos: list[dict[str, Any]]) -> None: ...
    def tick(self) -> None: ...


class RayCalls:
    """The Ray calls a dispatch makes, and nothing else: a unit test replaces them with a scripted fake."""

    def info(self, handle: Any) -> Any:
        return handle.info.remote()

    def submit(self, handle: Any, shard: Shard) -> Any:
        return handle.run_shard.remote(shard.shard_id, shard.tasks)

    def wait(self, refs: list[Any], num_returns: int, timeout: float) -> tuple[list[Any], list[Any]]:
        return ray.wait(refs, num_returns=num_returns, timeout=timeout)

    def get(self, ref: Any) -> Any:
        return ray.get(ref)

    def close(self, handle: Any, keep_engine: bool) -> Any:
        return handle.close.remote(keep_engine=True) if keep_engine else handle.close.remote()

    def kill(self, handle: Any) -> None:
        ray.kill(handle, no_restart=True)


class TaskCalls(RayCalls):
    """The Ray calls of a dispatch over tasks: a "handle" is a lane (one CPU's worth of work, ready at once), and a
    shard runs as ``fn.remote(shard.tasks, *args)``. A lane has no process to replace: a task whose worker died is
    tried again like any lost shard, and tasks still running when a lane is killed (a run that ended early) are
    cancelled."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn, self.args = fn, args
        self.running: dict[Any, Any] = {}  # ref -> its lane, until its result is read

    def info(self, handle: Any) -> Any:
        return ray.put({"lane": handle})

    def submit(self, handle: Any, shard: Shard) -> Any:
        ref = self.fn.remote(shard.tasks, *self.args)
        self.running[ref] = handle
        return ref

    def get(self, ref: Any) -> Any:
        self.running.pop(ref, None)
        return ray.get(ref)

    def close(self, handle: Any, keep_engine: bool) -> Any:
        return ray.put(None)

    def kill(self, handle: Any) -> None:
        for ref in [r for r, lane in self.running.items() if lane == handle]:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
            del self.running[ref]


#: Errors of a shard's call that mean "its worker or its result is gone": the shard is tried again elsewhere.
LOST = (RayActorError, RayTaskError, GetTimeoutError, ObjectLostError, WorkerCrashedError, OutOfMemoryError,
        NodeDiedError)


class Dispatcher:
    """Run every shard on ``n_actors`` actors: fill each ready actor, collect results as they come, replace lost
    actors and requeue their shards, drain on a stop. Results and losses go to ``sink``.

    Shards go only to actors that are placed and ready. A replacement that cannot be placed (its node is
    gone and no other node has room) never receives work, so the surviving actors finish the run.
    When ``stop`` is set (an interrupt), no further shard is handed out; shards already running get
    ``grace_seconds`` to finish (their results still reach the sink), then the actors are killed.
    The stats then count ``cancelled_shards``: shards that never reported (their files have no row).
    ``keep``: at the end of a run that ended normally (not interrupted), it is given the actors that closed
    cleanly (their staging removed, their engine kept) instead of their being killed.
    """

    def __init__(self, shards: Iterator[Shard], make_actor: Callable[[int], Any], n_actors: int, sink: Sink, *,
                 inflight_per_actor: int = 2, tick_seconds: float = 1.0, start_timeout: float = 120.0,
                 stop: threading.Event | None = None, grace_seconds: float = GRACE_SECONDS,
                 keep: Callable[[list[Any]], None] | None = None, calls: RayCalls | None = None) -> None:
        self.shards, self.make_actor, self.n_actors, self.sink = shards, make_actor, n_actors, sink
        self.inflight_per_actor, self.tick_seconds, self.start_timeout = inflight_per_actor, tick_seconds, start_timeout
        self.stop, self.grace_seconds, self.keep = stop, grace_seconds, keep
        self.calls = calls or RayCalls()
        self.slots: list[_Slot] = []
        self.queue: deque[Shard] = deque()
        self.inflight: dict[Any, tuple[int, int, Shard]] = {}
        self.exhausted = False
        self.stopped_at: float | None = None
        self.stats = {"replaced_actors": 0, "requeued_shards": 0, "lost_shards": 0, "cancelled_shards": 0}
        self.max_replacements = max(3, n_actors * MAX_SHARD_ATTEMPTS)

    def run(self) -> dict[str, int]:
        self.slots = [self._new_slot(i) for i in range(self.n_actors)]
        cancelled = False
        try:
            _await_first(self.slots, self.start_timeout, self.calls)
            self.sink.on_actors([s.info for s in self.slots if s.info])
            while self._step():
                pass
        except BaseException:
            cancelled = True
            raise
        finally:
            # An interrupted run keeps no actor, even when every shard it had started finished within the grace.
            interrupted = self.stop is not None and self.stop.is_set()
            _release(self.slots, graceful=not cancelled and not self.stats["cancelled_shards"],
                     keep=None if interrupted else self.keep, calls=self.calls)
        return self.stats

    def _new_slot(self, i: int, generation: int = 0) -> _Slot:
        handle = self.make_actor(i)
        return _Slot(handle, self.calls.info(handle), generation=generation)

    def _step(self) -> bool:
        """One turn of the loop; False when the run is over."""
        if self._draining_done():
            return False
        if _poll_ready(self.slots, self.calls):
            self.sink.on_actors([s.info for s in self.slots if s.info])
        self._fill()
        if not self.inflight:
            if (self.queue or not self.exhausted) and not any(s.ready for s in self.slots):
                # Work is left but no actor is ready (all died, replacements still starting): wait for one
                # rather than end the run with shards never handed out.
                _await_first(self.slots, self.start_timeout, self.calls)
                return True
            return False
        self._collect()
        self.sink.tick()
        return True

    def _draining_done(self) -> bool:
        """After a stop: hand out nothing more; True once the running shards reported or the grace ran out."""
        if self.stop is None or not self.stop.is_set():
            return False
        if self.stopped_at is None:
            self.stopped_at = time.monotonic()
            log.warning("interrupted: no new shards; waiting up to %.0fs for %d running", self.grace_seconds,
                        len(self.inflight))
            self.stats["cancelled_shards"] += len(self.queue)
            self.queue.clear()
            self.exhausted = True  # shards never read from the iterator are simply not counted
        if not self.inflight or time.monotonic() - self.stopped_at > self.grace_seconds:
            self.stats["cancelled_shards"] += len(self.inflight)
            return True
        return False

    def _fill(self) -> None:
        """Every ready actor without work gets a shard first; then a second one each (queued in the actor, so
        it never waits for a round trip between shards), but only while the shards left outnumber the actors
        still starting: at the end of a run, or with one shard per actor, a shard waits for an actor about to
        be ready rather than queue behind another actor's shard."""
        starting = sum(s.starting for s in self.slots)
        for depth in range(self.inflight_per_actor):
            need = 1 if depth == 0 else starting + 1
            for i, slot in enumerate(self.slots):
                if not slot.ready or slot.load != depth:
                    continue
                if not self._have(need):
                    return
                shard = self.queue.popleft()
                self.inflight[self.calls.submit(slot.handle, shard)] = (i, slot.generation, shard)
                slot.load += 1

    def _have(self, need: int) -> bool:
        """Whether ``need`` shards are queued, reading more from the iterator as needed."""
        while len(self.queue) < need and not self.exhausted:
            nxt = next(self.shards, None)
            if nxt is None:
                self.exhausted = True
            else:
                self.queue.append(nxt)
        return len(self.queue) >= need

    def _collect(self) -> None:
        ready, _ = self.calls.wait(list(self.inflight), 1, self.tick_seconds)
        for ref in ready:
            i, generation, shard = self.inflight.pop(ref)
            if generation == self.slots[i].generation:
                self.slots[i].load -= 1
            try:
                self.sink.on_result(shard, self.calls.get(ref))
            except LOST as exc:
                self._lost(i, generation, shard, exc)

    def _lost(self, i: int, generation: int, shard: Shard, exc: BaseException) -> None:
        """A shard whose call failed: replace its actor when that died, and try the shard again or give it up."""
        why = reason(exc)
        if isinstance(exc, RayActorError) and generation == self.slots[i].generation:
            self.stats["replaced_actors"] += 1
            if self.stats["replaced_actors"] > self.max_replacements:
                raise WorkflowError(f"downloader actors keep dying ({self.stats['replaced_actors']} replaced); "
                                    f"last: {why}") from None
            log.warning("downloader actor %d died (%s); starting a replacement", i, why)
            self.slots[i] = self._new_slot(i, generation + 1)
        if shard.attempt < MAX_SHARD_ATTEMPTS:
            self.stats["requeued_shards"] += 1
            self.queue.append(Shard(shard.shard_id, shard.rows, shard.attempt + 1))
        else:
            self.stats["lost_shards"] += 1
            self.sink.on_lost(shard, f"shard failed {shard.attempt} times; last: {why}")


def _release(slots: list[_Slot], *, graceful: bool, keep: Callable[[list[Any]], None] | None,
             calls: RayCalls) -> None:
    """Let ready actors remove their staging, then kill every actor so idle nodes can scale down; or, with
    ``keep`` after a run that ended normally, hand it those that closed cleanly."""
    kept = _close(slots, keep, calls) if graceful else []
    kept_ids = {id(s) for s in kept}
    for slot in slots:
        if id(slot) not in kept_ids:
            with contextlib.suppress(Exception):
                calls.kill(slot.handle)


def _close(slots: list[_Slot], keep: Callable[[list[Any]], None] | None, calls: RayCalls) -> list[_Slot]:
    """Close the ready actors (within 10 s); those that closed cleanly go to ``keep``, when given."""
    refs: dict[Any, _Slot] = {}
    for s in slots:
        with contextlib.suppress(AttributeError):  # an actor class without close() has nothing to clean
            if s.ready:
                refs[calls.close(s.handle, keep is not None)] = s
    done: list[Any] = []
    with contextlib.suppress(Exception):
        done, _ = calls.wait(list(refs), len(refs), 10.0)
    if keep is None:
        return []
    kept: list[_Slot] = []
    for ref in done:
        with contextlib.suppress(Exception):  # died or failed while closing: killed by the caller
            calls.get(ref)
            kept.append(refs[ref])
    keep([s.handle for s in kept])
    return kept


def _poll_ready(slots: list[_Slot], calls: RayCalls) -> bool:
    """Settle the actors still starting (ready, or dead with a reason); True when any became ready now."""
    starting = [s for s in slots if s.starting]
    if not starting:
        return False
    done, _ = calls.wait([s.ready_ref for s in starting], len(starting), 0)
    changed = False
    for s in starting:
        if s.ready_ref in done:
            try:
                s.info = calls.get(s.ready_ref)
                changed = True
            except Exception as exc:  # noqa: BLE001 - died while starting: record why, never poll it again
                s.error = reason(exc)
    return changed


def _await_first(slots: list[_Slot], timeout: float, calls: RayCalls) -> None:
    """Block until at least one actor is ready, so start-up errors surface here with a clear message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _poll_ready(slots, calls)
        if any(s.ready for s in slots):
            return
        starting = [s.ready_ref for s in slots if s.starting]
        if not starting:
            raise WorkflowError(f"downloader actors failed to start: {next(s.error for s in slots if s.error)}")
        calls.wait(starting, 1, min(5.0, max(0.0, deadline - time.monotonic())))
    raise WorkflowError(
        f"downloader actors did not start within {timeout:.0f}s; the cluster may lack free slots (each actor "
        "asks for 0.5 CPU, and the downloader resource when configured): lower num_actors or add nodes"
    )
