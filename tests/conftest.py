"""Session-wide fixtures: one local archive (SeaweedFS) for all integration tests, started on first use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from raycollect.mirror import GeneratedArchive, LocalArchive, Quirks, generate_archive, plan_for
from raycollect.mirror.seed import seed_real, upload_tree

# The test archive: spot and futures files over a few days with the quirks a collector must survive.
TEST_SELECTION = dict(
    markets=["spot", "futures_um"], symbols=["BTCUSDT", "ETHUSDT"], data_types=["klines", "aggTrades"],
    intervals={"klines": ["1m", "1mo", "1h"]}, start="2024-01-30", end="2024-02-03", partition_policy="both",
)
GAP = "data/spot/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-02-01.zip"
NO_SIDECAR = "data/spot/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-02-02.zip"
BAD_SIDECAR = "data/futures/um/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-02-02.zip"
TEST_QUIRKS = Quirks(missing=frozenset({GAP}), no_checksum=frozenset({NO_SIDECAR}),
                     bad_checksum=frozenset({BAD_SIDECAR}))


@dataclass
class SeededArchive:
    server: LocalArchive
    generated: GeneratedArchive
    source: Path  # the generated tree, as uploaded

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint_url

    @property
    def bucket(self) -> str:
        return self.server.bucket


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededArchive]:
    source = tmp_path_factory.mktemp("archive-src")
    generated = generate_archive(source, plan_for(**TEST_SELECTION), seed=11, quirks=TEST_QUIRKS)
    with LocalArchive() as server:
        upload_tree(server.endpoint_url, server.bucket, source)
        seed_real(server.endpoint_url, server.bucket)
        yield SeededArchive(server, generated, source)


#: The signed SeaweedFS's admin identity (it serves the Iceberg REST catalog, which signs with SigV4).
LAKE_KEYS = ("rctestadmin", "rctestsecret0123456789")


@pytest.fixture(scope="session")
def lake_server() -> Iterator[LocalArchive]:
    """A second SeaweedFS, with credentials and its Iceberg REST catalog, and a table bucket ``lake`` for a
    warehouse; started only by the tests that use it."""
    with LocalArchive(bucket="plain", credentials=LAKE_KEYS, iceberg=True) as server:
        server.create_table_bucket("lake")
        yield server


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One local Ray for the whole session (start-up costs ~6 s on 2 cores); ray.shutdown stops what it started."""
    import logging

    import ray

    from raycollect.cluster import _lean_local_ray

    with _lean_local_ray():  # as raycollect starts its own: about 1-2 s and 2 CPU-s less
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def _no_kept_actors() -> Iterator[None]:
    """Every test starts without downloader actors kept by another test's run (raycollect.actor_cache)."""
    yield
    from raycollect.actor_cache import CACHE

    if len(CACHE):
        CACHE.clear()


def collect_config(archive: SeededArchive, output: Path, **overrides: object) -> dict:
    """A config over the test archive's aggTrades: 2 markets x 2 symbols x 5 days = 20 files."""
    from tests.helpers import MATRIX

    cfg = {
        "workflow_type": "archive_collection", "matrix_path": str(MATRIX), "output_directory": str(output),
        "markets": ["spot", "futures_um"], "symbols": ["BTCUSDT", "ETHUSDT"], "data_types": ["aggTrades"],
        "date_range": {"start": "2024-01-30", "end": "2024-02-03"}, "partition_policy": "daily",
        "endpoint_url": archive.endpoint_url, "batch_size": 4, "max_parallel_downloads": 2,
    }
    cfg.update(overrides)
    return cfg
