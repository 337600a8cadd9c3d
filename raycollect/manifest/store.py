"""Where manifests live: a directory, or an ``s3://bucket/prefix`` used through a local mirror.

Everything that reads or writes manifests works on a local directory. For an ``s3://`` manifest
directory that directory is a cache (``~/.cache/raycollect/manifests/<hash>`` or below
``local_data_dir``): every file raycollect writes there (a part, a run record, the state's data file,
then its pointer) is uploaded with one PUT right after its local atomic write, at the same relative key,
so the bucket holds complete files only and the commit-last order of the state is kept. Before reading,
``pull`` downloads what is missing: for a run, the run records, the newest state and the runs it does not
cover; for queries, everything. S3 makes each PUT atomic, so concurrent writers (one per run id) never
see half a file. The credentials and endpoint are the destination's (``destination_endpoint_url``,
``destination_region``, ``destination_credentials``).
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raycollect.atomic import write_bytes
from raycollect.errors import ConfigurationError

if TYPE_CHECKING:
    from raycollect.config import WorkflowConfig


class ManifestStore:
    def __init__(self, location: str, *, endpoint_url: str | None = None, region: str | None = None,
                 anonymous: bool = False, cache_root: str | None = None) -> None:
        self.location = location
        self.remote = location.startswith("s3://")
        if not self.remote:
            self.local = Path(location)
            return
        bucket, _, prefix = location[5:].partition("/")
        if not bucket:
            raise ConfigurationError(f"manifest_directory {location!r} is not an s3://bucket/prefix URI")
        self.bucket, self.prefix = bucket, (prefix.strip("/") + "/" if prefix.strip("/") else "")
        self.endpoint_url, self.region, self.anonymous = endpoint_url, region, anonymous
        digest = hashlib.sha256(f"{endpoint_url}|{location}".encode()).hexdigest()[:16]
        root = Path(cache_root).expanduser() / "manifest-cache" if cache_root else \
            Path.home() / ".cache" / "raycollect" / "manifests"
        self.local = root / digest
        self.local.mkdir(parents=True, exist_ok=True)
        self._client: Any = None

    @classmethod
    def for_config(cls, config: WorkflowConfig) -> ManifestStore:
        return cls(config.manifest_dir, endpoint_url=config.destination_endpoint_url,
                   region=config.destination_region or config.region,
                   anonymous=config.destination_credentials == "anonymous", cache_root=config.local_data_dir)

    @property
    def client(self) -> Any:
        if self._client is None:
            from raycollect.downloaders.retry import s3_client

            self._client = s3_client(endpoint_url=self.endpoint_url, region=self.region, anonymous=self.anonymous,
                                     pool=16)
        return self._client

    # --- writing ---
    def publish(self, path: Path) -> None:
        """Upload a file just written below the local directory to the same relative key (one PUT)."""
        if not self.remote:
            return
        relative = path.resolve().relative_to(self.local.resolve()).as_posix()
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + relative, Body=path.read_bytes())

    def probe(self) -> None:
        """The manifest directory (or prefix) is writable, or ConfigurationError."""
        if not self.remote:
            from raycollect.storage import probe_manifest_directory

            probe_manifest_directory(str(self.local))
            return
        from raycollect.storage import probe_s3_prefix

        probe_s3_prefix(self.client, self.bucket, self.prefix, f"manifest_directory {self.location}")

    # --- reading ---
    def pull(self, *, everything: bool = False) -> Path:
        """Download what is missing locally (a run's needs, or everything); returns the local directory."""
        if not self.remote:
            return self.local
        remote = self._list()
        # Run records (each downloaded once, then cached) and only the newest state pointer: older pointers
        # pile up in the bucket, and fetching them every run would make the cost grow with history.
        pointers = sorted(k for k in remote if k.startswith("state/state-"))
        # Conversion manifests too (silver/): a conversion's state, one small part per run.
        self._download([k for k in remote if k.startswith(("runs/", "silver/"))] + pointers[-1:], remote)
        if everything:
            wanted = [k for k in remote if k.startswith("files/")]
        else:
            covers: set[str] = set()
            if pointers:
                doc = json.loads((self.local / pointers[-1]).read_text())
                covers = set(doc["covers"])
                if doc.get("data"):
                    self._download([f"state/{doc['data']}"], remote)
            wanted = [k for k in remote if k.startswith("files/run_id=")
                      and k.split("/")[1].removeprefix("run_id=") not in covers]
        self._download(wanted, remote)
        return self.local

    def _list(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                out[obj["Key"][len(self.prefix):]] = int(obj["Size"])
        return out

    def _download(self, keys: list[str], sizes: dict[str, int]) -> None:
        from raycollect.storage import _check_relative

        todo = []
        for key in keys:
            _check_relative(key)  # keys from a listing: never a path outside the cache
            path = self.local / key
            if not (path.is_file() and path.stat().st_size == sizes[key]):
                todo.append((key, path))

        def get(item: tuple[str, Path]) -> None:
            key, path = item
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
            write_bytes(path, body, durable=False)  # a mirror of S3: fetched again if lost

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(get, todo))
