"""The package's public names, and what importing the actor's modules costs a Ray worker."""

import subprocess
import sys

import pytest

import raycollect
from tests.helpers import ROOT


def test_every_public_name_resolves_to_its_module():
    from raycollect.config import WorkflowConfig
    from raycollect.errors import ConfigurationError
    from raycollect.plan import build_plan

    assert (raycollect.WorkflowConfig, raycollect.ConfigurationError, raycollect.build_plan) == (
        WorkflowConfig, ConfigurationError, build_plan)
    assert all(getattr(raycollect, name) is not None for name in raycollect.__all__)
    assert set(raycollect.__all__) <= set(dir(raycollect))
    with pytest.raises(AttributeError, match="module 'raycollect' has no attribute 'nothing'"):
        _ = raycollect.nothing


def test_a_worker_starting_a_downloader_actor_imports_neither_the_config_model_nor_the_planner():
    code = ("import sys, raycollect.actors, raycollect.downloaders.curl; "
            "print(sorted(m for m in ('pydantic', 'raycollect.config', 'raycollect.plan', 'raycollect.matrix') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"
