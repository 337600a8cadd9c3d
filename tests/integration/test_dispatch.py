"""The ray.wait loop with real actors that die: no shard is ever dropped."""

import os

import pyarrow as pa
import pytest
import ray

from raycollect.dispatch import MAX_SHARD_ATTEMPTS, Shard, dispatch

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]


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
