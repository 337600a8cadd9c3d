"""Is a verified zip a usable archive file? It opens, and holds exactly one file.

The archive has published zips with two CSVs (binance-public-data#449) and zips that cannot be opened
(#435); their sidecars match them, so verification alone lets them through. Such a file is quarantined
(kept below ``QUARANTINE_DIR`` of the destination, never at its target, never converted) with the reason
this module gives. Only the zip's central directory is read, not its data.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

#: Where quarantined files are kept, relative to the destination (the archive's keys all start with data/).
QUARANTINE_DIR = "_quarantine"


def zip_problem(path: Path) -> str | None:
    """Why the zip at ``path`` is not a usable archive file, or None when it is."""
    try:
        if path.stat().st_size == 0:
            return "empty file: 0 bytes, not a zip"
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        return f"cannot be opened as a zip: {exc}"[:300]
    if not members:
        return "empty zip: it holds no file"
    if len(members) > 1:
        names = ", ".join(repr(m.filename[:80]) for m in members[:3])
        more = f" and {len(members) - 3} more" if len(members) > 3 else ""
        return f"holds {len(members)} files ({names}{more}), not one"
    return None  # one file, even of 0 bytes: a day with no rows is data (silver reports it as an empty file)
