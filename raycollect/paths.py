"""Where a driver runs decides which paths are safe: inside a Ray job, relative paths are a trap.

``ray job submit --working-dir .`` runs the driver in Ray's temporary copy of the working directory
(``.../runtime_resources/working_dir_files/_ray_pkg_<hash>``), which Ray deletes, and a changed checkout
gets a new hash: a relative output or manifest directory would be written there, lost, and never resumed.
"""

from __future__ import annotations

import os
from pathlib import Path

from raycollect.errors import ConfigurationError

_WORKING_DIR_MARKER = f"{os.sep}runtime_resources{os.sep}working_dir_files{os.sep}"


def ray_job_working_dir() -> str | None:
    """The working directory when this process is a Ray job's driver (or runs inside a Ray working_dir)."""
    cwd = os.getcwd()
    if _WORKING_DIR_MARKER in cwd + os.sep or os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR"):
        return cwd
    return None


def check_paths_for_ray_job(output_directory: str, manifest_directory: str | None,
                            silver_directory: str | None = None) -> None:
    """ConfigurationError naming the fix when a destination is relative inside a Ray job."""
    where = ray_job_working_dir()
    if where is None:
        return
    for name, value in (("output_directory", output_directory), ("manifest_directory", manifest_directory),
                        ("silver_directory", silver_directory)):
        if value and not value.startswith("s3://") and not Path(value).expanduser().is_absolute():
            raise ConfigurationError(
                f"{name} {value!r} is relative, and this driver runs in a Ray job, in Ray's temporary copy of the "
                f"working directory ({where}), which Ray deletes: set {name} to an absolute path on a filesystem "
                "every node mounts, or to an s3:// URI")
