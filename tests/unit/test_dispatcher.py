"""The dispatcher's rules in milliseconds: a scripted RayCalls stands in for Ray (the real loop with real actors
that die is tests/integration/test_dispatch.py)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pyarrow as pa
from ray.exceptions import RayActorError, WorkerCrashedError

from raycollect.dispatch import MAX_SHARD_ATTEMPTS, Dispatcher, Shard


@dataclass(eq=False)
class Ref:
    value: object = None
    error: BaseException | None = None


@dataclass(eq=False)
class Actor:
    n: int
    dies_on: set[int] = field(default_factory=set)  # shard ids that kill this actor
    ran: list[int] = field(default_factory=list)
    closed: bool = False
    killed: bool = False


class Calls:
    """Every call answers at once; an actor scripted to die on a shard raises RayActorError for it."""

    def __init__(self, crashes: dict[int, int] | None = None) -> None:
        self.submitted: list[tuple[int, int]] = []  # (actor number, shard id)
        self.crashes = dict(crashes or {})  # shard id -> how many of its tasks lose their worker

    def info(self, handle: Actor) -> Ref:
        return Ref({"actor": handle.n})

    def submit(self, handle: Actor, shard: Shard) -> Ref:
        self.submitted.append((handle.n, shard.shard_id))
        if self.crashes.get(shard.shard_id):
            self.crashes[shard.shard_id] -= 1
            return Ref(error=WorkerCrashedError())
        if shard.shard_id in handle.dies_on:
            return Ref(error=RayActorError())
        handle.ran.append(shard.shard_id)
        return Ref(pa.record_batch({"shard": [shard.shard_id]}))

    def wait(self, refs, num_returns, timeout):
        return list(refs)[: max(num_returns, 1)], list(refs)[max(num_returns, 1):]

    def get(self, ref: Ref):
        if ref.error is not None:
            raise ref.error
        return ref.value

    def close(self, handle: Actor, keep_engine: bool) -> Ref:
        handle.closed = True
        return Ref(None)

    def kill(self, handle: Actor) -> None:
        handle.killed = True


class Sink:
    def __init__(self, stop: threading.Event | None = None, stop_after: int = 0) -> None:
        self.results: list[int] = []
        self.lost: list[tuple[int, int, str]] = []
        self.actors: list[int] = []
        self.ticks = 0
        self.stop, self.stop_after = stop, stop_after

    def on_result(self, shard: Shard, results: pa.RecordBatch) -> None:
        self.results.append(results["shard"][0].as_py())
        if self.stop is not None and len(self.results) == self.stop_after:
            self.stop.set()

    def on_lost(self, shard: Shard, reason: str) -> None:
        self.lost.append((shard.shard_id, shard.attempt, reason))

    def on_actors(self, infos: list[dict]) -> None:
        self.actors.append(len(infos))

    def tick(self) -> None:
        self.ticks += 1


def shards(n: int) -> list[Shard]:
    return [Shard(i, {"x": [i]}) for i in range(n)]


def test_every_shard_runs_once_and_every_actor_is_killed_at_the_end():
    made: list[Actor] = []
    calls, sink = Calls(), Sink()
    stats = Dispatcher(iter(shards(7)), lambda i: made.append(Actor(i)) or made[-1], 3, sink, calls=calls).run()
    assert sorted(sink.results) == list(range(7)) and sink.lost == []
    assert sorted(s for a in made for s in a.ran) == list(range(7))
    assert {a.n for a in made} == {0, 1, 2} and all(a.closed and a.killed for a in made)
    assert stats == {"replaced_actors": 0, "requeued_shards": 0, "lost_shards": 0, "cancelled_shards": 0}
    assert sink.actors[0] == 3


def test_a_dead_actor_is_replaced_and_its_shard_runs_elsewhere():
    made: list[Actor] = []

    def make(i: int) -> Actor:
        made.append(Actor(i, dies_on={2} if len(made) == 0 else set()))  # the first actor dies on shard 2
        return made[-1]

    sink = Sink()
    stats = Dispatcher(iter(shards(4)), make, 2, sink, calls=Calls(), inflight_per_actor=1).run()
    assert sorted(sink.results) == [0, 1, 2, 3]
    assert (stats["replaced_actors"], stats["requeued_shards"], stats["lost_shards"]) == (1, 1, 0)
    assert len(made) == 3 and 2 in [s for a in made[1:] for s in a.ran]


def test_a_shard_that_kills_every_actor_is_given_up_after_its_attempts():
    sink = Sink()
    stats = Dispatcher(iter(shards(2)), lambda i: Actor(i, dies_on={0}), 1, sink, calls=Calls(),
                       inflight_per_actor=1).run()
    assert sink.results == [1]
    assert [(s, a) for s, a, _ in sink.lost] == [(0, MAX_SHARD_ATTEMPTS)]
    assert sink.lost[0][2].startswith(f"shard failed {MAX_SHARD_ATTEMPTS} times; last: RayActorError: ")
    assert stats["replaced_actors"] == MAX_SHARD_ATTEMPTS and stats["lost_shards"] == 1


def test_a_stop_hands_out_nothing_more_and_keeps_no_actor():
    stop = threading.Event()
    made: list[Actor] = []
    kept: list[list] = []
    sink = Sink(stop, stop_after=2)
    stats = Dispatcher(iter(shards(10)), lambda i: made.append(Actor(i)) or made[-1], 1, sink, calls=Calls(),
                       inflight_per_actor=1, stop=stop, keep=kept.append).run()
    assert sink.results == [0, 1] and kept == [] and made[0].killed
    assert stats["cancelled_shards"] == 0  # nothing was running when it stopped; unread shards are not counted


def test_actors_that_close_cleanly_are_kept_when_asked():
    kept: list[list] = []
    made: list[Actor] = []
    Dispatcher(iter(shards(2)), lambda i: made.append(Actor(i)) or made[-1], 2, Sink(), calls=Calls(),
               keep=kept.append).run()
    assert kept == [made] and not any(a.killed for a in made)


def test_a_task_whose_worker_died_is_tried_again_and_its_lane_is_not_replaced():
    made: list[Actor] = []
    sink = Sink()
    stats = Dispatcher(iter(shards(3)), lambda i: made.append(Actor(i)) or made[-1], 2, sink,
                       calls=Calls(crashes={1: 1, 2: MAX_SHARD_ATTEMPTS})).run()
    assert sorted(sink.results) == [0, 1]
    assert [(s, a) for s, a, _ in sink.lost] == [(2, MAX_SHARD_ATTEMPTS)]
    assert sink.lost[0][2].startswith(f"shard failed {MAX_SHARD_ATTEMPTS} times; last: WorkerCrashedError: The worker "
                                      "died unexpectedly")
    assert len(made) == 2  # a lane is no process: nothing to replace
    assert stats == {"replaced_actors": 0, "requeued_shards": 1 + (MAX_SHARD_ATTEMPTS - 1), "lost_shards": 1,
                     "cancelled_shards": 0}
