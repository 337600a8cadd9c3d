"""Aligned plain-text tables for the command line; a leaf module that imports nothing of raycollect."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(rows: list[dict[str, object]], columns: Sequence[str]) -> str:
    """An aligned plain-text table; numbers right-aligned with thousands separators."""
    def cell(v: object) -> str:
        return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else ("" if v is None else str(v))

    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(b[i]) for b in body]) for i, c in enumerate(columns)]
    numeric = [any(isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool) for r in rows)
               and all(r.get(c) is None or isinstance(r.get(c), int | float) for r in rows) for c in columns]

    def line(cells: Sequence[str]) -> str:
        padded = (v.rjust(w) if num else v.ljust(w) for v, w, num in zip(cells, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(b) for b in body)])
