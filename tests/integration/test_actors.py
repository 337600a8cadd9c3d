"""The downloader actor's staging: opened with its first shard, so an actor that never ran one leaves none."""

import pytest
import ray

from raycollect.actors import actor_class
from raycollect.downloaders import DownloaderSettings
from raycollect.storage import LocalStorage
from tests.helpers import wait_exited

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]


def test_an_actor_killed_before_its_first_shard_leaves_no_staging(archive, tmp_path):
    storage = LocalStorage(tmp_path)
    settings = DownloaderSettings(bucket=archive.bucket, endpoint_url=archive.endpoint_url)
    actor = actor_class().remote("curl", settings, storage, True, "20240101T000000000Z-abcdef", None)
    info = ray.get(actor.info.remote(), timeout=60)
    assert info["engine"] == "curl"
    ray.kill(actor, no_restart=True)  # as a run kills an actor still starting when its work is done
    wait_exited([info["pid"]], 10.0)
    root = storage.staging_root
    assert not root.exists() or list(root.iterdir()) == []
