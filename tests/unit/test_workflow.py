"""The driver's pure rules: how known work is spread over the actors a run may start."""

import pyarrow as pa

from raycollect.dispatch import Shard
from raycollect.run import _spread


def shard(sid: int, keys: list[str]) -> Shard:
    return Shard(sid, pa.table({"key": keys, "target": keys}))


def test_less_work_than_one_shard_per_actor_is_cut_into_equal_shards():
    got = _spread([shard(0, [f"k{i:02d}" for i in range(40)])], 8)
    assert [s.shard_id for s in got] == list(range(8))
    assert [s.rows["key"].to_pylist() for s in got] == [[f"k{i:02d}" for i in range(j, j + 5)] for j in range(0, 40, 5)]


def test_uneven_and_tiny_work():
    got = _spread([shard(0, ["a", "b", "c"]), shard(1, ["d", "e"])], 4)
    assert [s.rows["key"].to_pylist() for s in got] == [["a", "b"], ["c", "d"], ["e"]]
    one = _spread([shard(0, ["only"])], 8)
    assert [s.rows["key"].to_pylist() for s in one] == [["only"]]


def test_enough_shards_are_left_as_they_are():
    shards = [shard(i, [f"k{i}"]) for i in range(3)]
    assert _spread(shards, 3) is shards
    assert _spread([], 8) == []
