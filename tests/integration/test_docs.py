"""The docs work: the site builds with ``mkdocs build --strict``, and every shell and Python block of the README and
of docs/ runs against the local archive, in order, page by page (sybil parses the blocks).

A block that cannot run offline is marked just before it with ``<!-- skip: next "the reason" -->``. The blocks
run in a scratch directory holding copies of ``jobs/`` and ``matrices/``, next to a local archive on port 19000
seeded with the demo's files (what ``jobs/tour.json`` reads), with ``raycollect`` and ``mkdocs`` on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import unittest
from collections.abc import Iterator
from pathlib import Path

import pytest
from sybil import Sybil
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser, SkipParser

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOUR_PORT = 19000


def test_the_site_builds_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-d", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "index.html").is_file() and (tmp_path / "archive-changes" / "index.html").is_file()
    assert "ArchiveCollectionWorkflow" in (tmp_path / "api" / "index.html").read_text()  # mkdocstrings rendered


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Iterator[Path]:
    """A scratch directory with jobs/ and matrices/, and the tour's local archive running."""
    from raycollect.mirror import LocalArchive
    from raycollect.mirror.seed import seed_demo

    work = tmp_path_factory.mktemp("docs")
    for name in ("jobs", "matrices"):
        shutil.copytree(ROOT / name, work / name)
    with LocalArchive(port=TOUR_PORT) as archive:
        seed_demo(archive.endpoint_url, archive.bucket)
        # Every page may query what the README's tour collects and converts: done here too, so a page runs alone.
        env = {**_env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        for command in (["run", "jobs/tour.json", "--no-progress"], ["convert", "jobs/tour.json", "--no-progress"]):
            proc = subprocess.run([str(Path(sys.executable).parent / "raycollect"), *command], cwd=work, env=env,
                                  capture_output=True, text=True, timeout=900)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        yield work


def _env() -> dict[str, str]:
    """The environment of a block: this one, without a RAY_ADDRESS (each command starts its own local Ray)."""
    return {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}


def run_bash(work: Path):
    def evaluate(example) -> None:
        env = _env()
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", example.parsed], cwd=work, env=env,
                              capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise AssertionError(f"{example.path}:{example.line}: exit {proc.returncode}\n{example.parsed}\n"
                                 f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    return evaluate


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_block_of_the_page_runs(page, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    sybil = Sybil(parsers=[PythonCodeBlockParser(), CodeBlockParser(language="bash", evaluator=run_bash(workdir)),
                           SkipParser()])
    ran, skipped = 0, []
    for example in sybil.parse(page):
        try:
            example.evaluate()  # a skip directive raises SkipTest for the block it marks: the others still run
        except unittest.SkipTest as why:
            skipped.append(str(why))
            continue
        ran += 1
    assert all(reason for reason in skipped)  # every skipped block says why
