"""A local archive: a real S3 server (SeaweedFS) serving real and generated Binance archive files."""

from raycollect.mirror.fixtures import REAL_KEYS, real_fixtures_root
from raycollect.mirror.generate import GeneratedArchive, Quirks, generate_archive, plan_for
from raycollect.mirror.server import DEFAULT_BUCKET, LocalArchive, weed_binary

__all__ = [
    "DEFAULT_BUCKET",
    "REAL_KEYS",
    "GeneratedArchive",
    "LocalArchive",
    "Quirks",
    "generate_archive",
    "plan_for",
    "real_fixtures_root",
    "weed_binary",
]
