"""The ray.wait loop with real actors that die: no shard is ever dropped."""

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pytest
import ray

from raycollect.dispatch import MAX_SHARD_ATTEMPTS, Dispatcher, Shard, TaskCalls

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]


@dataclass
class _Sink:
    result: Callable
    lost: Callable

    def on_result(self, shard, results):
        self.result(shard, results)

    def on_lost(self, shard, reason):
        self.lost(shard, reason)

    def on_actors(self, infos):
        pass

    def tick(self):
        pass


def dispatch(shards, make_actor, n_actors, on_result, on_lost, **options):
    """``Dispatcher(...).run()`` with two callables as its sink."""
    return Dispatcher(shards, make_actor, n_actors, _Sink(on_result, on_lost), **options).run()


def test_shards_after_a_poison_shard_still_run_when_every_actor_is_restarting():
    @ray.remote(num_cpus=0.5, max_restarts=0, max_task_retries=0)
    class Worker:
        def info(self):
            return {"pid": os.getpid()}

        def run_shard(self, shard_id, tasks):
            if tasks["poison"][0]:
                os._exit(1)  # the actor process dies, like a node going away
            return pa.RecordBatch.from_pydict({"shard": [shard_id]})

    results, lost = [], []
    shards = iter([Shard(0, {"poison": [True]}), Shard(1, {"poison": [False]}), Shard(2, {"poison": [False]})])
    stats = dispatch(shards, lambda i: Worker.remote(), 1, lambda s, r: results.append(s.shard_id),
                     lambda s, why: lost.append((s.shard_id, s.attempt)), inflight_per_actor=1)
    assert lost == [(0, MAX_SHARD_ATTEMPTS)]
    assert sorted(results) == [1, 2]  # the one actor was being replaced when shard 0 was given up on
    assert stats["replaced_actors"] == MAX_SHARD_ATTEMPTS


def test_a_shard_waits_for_an_actor_still_starting_rather_than_queue_behind_another(tmp_path):
    """Two shards, two actors, the second slow to start: each actor runs one. Shard 0 holds its actor until
    shard 1 has started; queued behind shard 0 on the first actor (a second shard in flight there), shard 1
    would never start and shard 0 would report the wait timed out."""
    started = tmp_path / "shard-1-started"

    @ray.remote(num_cpus=0.5, max_restarts=0, max_task_retries=0)
    class Worker:
        def __init__(self, slow: bool) -> None:
            if slow:
                time.sleep(1.0)  # the first actor is ready first, and would be handed both shards

        def info(self):
            return {"pid": os.getpid()}

        def run_shard(self, shard_id, tasks):
            waited_out = False
            if shard_id == 0:
                deadline = time.monotonic() + 20
                while not started.exists() and not (waited_out := time.monotonic() > deadline):
                    time.sleep(0.05)
            else:
                started.touch()
            return pa.RecordBatch.from_pydict({"pid": [os.getpid()], "waited_out": [waited_out]})

    got = {}
    stats = dispatch(iter([Shard(0, {"x": [0]}), Shard(1, {"x": [1]})]), lambda i: Worker.remote(i == 1), 2,
                     lambda s, r: got.update({s.shard_id: r.to_pylist()[0]}), lambda s, why: None)
    assert got[0]["waited_out"] is False and got[1]["waited_out"] is False
    assert got[0]["pid"] != got[1]["pid"]
    assert stats["replaced_actors"] == stats["requeued_shards"] == 0


def test_a_run_interrupted_after_its_last_shard_keeps_no_actor():
    """The stop comes once every shard it had started has reported, so none is cancelled: the run was still
    interrupted, and its actors are killed, not handed to ``keep``."""
    @ray.remote(num_cpus=0.5, max_restarts=0, max_task_retries=0)
    class Worker:
        def info(self):
            return {"pid": os.getpid()}

        def run_shard(self, shard_id, tasks):
            return pa.RecordBatch.from_pydict({"shard": [shard_id]})

        def close(self, keep_engine=False):
            return None

    stop = threading.Event()
    kept: list = []
    handles: list = []

    def make(i):
        handles.append(Worker.remote())
        return handles[-1]

    def on_result(shard, results):
        stop.set()

    stats = dispatch(iter([Shard(0, {"x": [0]})]), make, 1, on_result, lambda s, why: None, stop=stop,
                     keep=kept.extend)
    assert stats["cancelled_shards"] == 0 and kept == []
    deadline = time.monotonic() + 30  # ray.kill is asynchronous: a call made just after it may still be answered
    while True:
        try:
            ray.get(handles[0].info.remote(), timeout=30)
        except ray.exceptions.RayActorError:
            break
        assert time.monotonic() < deadline, "the interrupted run's actor is still alive"
        time.sleep(0.2)


def test_a_task_dispatch_that_ends_early_cancels_the_tasks_still_running():
    """Silver's conversion dispatches Ray tasks (TaskCalls). When the run ends early (here its sink raises on the
    first result; an interrupt does the same), the task still running is cancelled, not left to finish."""

    @ray.remote(num_cpus=0.5, max_retries=0)
    def work(tasks):
        if tasks["slow"][0]:
            time.sleep(120)
        return tasks["n"][0]

    calls = TaskCalls(work)
    submitted = []
    submit = calls.submit
    calls.submit = lambda lane, shard: submitted.append(submit(lane, shard)) or submitted[-1]

    def on_result(shard, results):
        raise RuntimeError("the sink gave up")

    shards = iter([Shard(0, {"slow": [False], "n": [0]}), Shard(1, {"slow": [True], "n": [1]})])
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="the sink gave up"):
        Dispatcher(shards, lambda lane: lane, 2, _Sink(on_result, lambda s, why: None), calls=calls,
                   inflight_per_actor=1).run()
    assert len(submitted) == 2 and calls.running == {}
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(submitted[1], timeout=60)
    assert time.monotonic() - t0 < 60  # cancelled, not waited out (the task sleeps 120 s)
