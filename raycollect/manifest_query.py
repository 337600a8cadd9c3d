"""Kept for code written against raycollect 0.1: the manifest questions now live in raycollect.manifest."""

from raycollect.manifest.query import Manifests, table_rows

__all__ = ["Manifests", "table_rows"]
