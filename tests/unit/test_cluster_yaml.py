"""cluster.yaml passes Ray's schema and Ray's own config preparation; broken copies fail them."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from tests.helpers import ROOT

SCHEMA = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


@pytest.fixture(scope="module")
def cluster():
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def ray_checks(config):
    jsonschema.validate(config, SCHEMA)
    validate_config(prepare_config(copy.deepcopy(config)))


def test_cluster_yaml_is_valid_for_ray(cluster):
    ray_checks(cluster)


def test_cluster_yaml_says_what_raycollect_needs(cluster):
    assert cluster["provider"] == {**cluster["provider"], "type": "aws", "region": "ap-northeast-1"}
    types = cluster["available_node_types"]
    assert "downloader" not in types[cluster["head_node_type"]]["resources"]
    workers = [t for name, t in types.items() if name != cluster["head_node_type"]]
    assert all(isinstance(t["resources"]["downloader"], int) and t["resources"]["downloader"] >= 1 for t in workers)
    assert all(t["node_config"].get("InstanceMarketOptions", {}).get("MarketType") == "spot" for t in workers)
    assert f'"ray[default]=={ray.__version__}"' in " ".join(cluster["setup_commands"])
    starts = cluster["head_start_ray_commands"] + cluster["worker_start_ray_commands"]
    assert all("ulimit -n 65536" in c for c in starts if "ray start" in c)


def test_a_typo_key_fails(cluster):
    broken = copy.deepcopy(cluster)
    broken["max_worker"] = broken.pop("max_workers")
    with pytest.raises(jsonschema.ValidationError, match="'max_worker' was unexpected"):
        ray_checks(broken)


def test_a_fractional_node_resource_fails(cluster):
    broken = copy.deepcopy(cluster)
    broken["available_node_types"]["downloader"]["resources"]["downloader"] = 0.5
    with pytest.raises(jsonschema.ValidationError, match=r"0\.5 is not of type 'integer'"):
        ray_checks(broken)


def test_a_typo_inside_a_node_type_fails(cluster):
    broken = copy.deepcopy(cluster)
    broken["available_node_types"]["downloader"]["min_worker"] = 1
    with pytest.raises(jsonschema.ValidationError, match="'min_worker' was unexpected"):
        ray_checks(broken)
