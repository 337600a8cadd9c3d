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


def raycollect_needs(cluster):
    """What a cluster for raycollect must say, beyond Ray's schema."""
    assert cluster["provider"] == {**cluster["provider"], "type": "aws", "region": "ap-northeast-1"}
    for name, node_type in cluster["available_node_types"].items():
        profile = node_type["node_config"].get("IamInstanceProfile", {})
        assert profile.get("Name") or profile.get("Arn"), f"{name}: no IAM instance profile (no S3 credentials)"
    image = cluster.get("docker", {}).get("image", "")
    assert image == f"rayproject/ray:{ray.__version__}-py311-cpu", f"image not pinned to Ray {ray.__version__}: {image}"
    assert cluster["idle_timeout_minutes"] > 0 and cluster["available_node_types"]["downloader"]["min_workers"] == 0
    types = cluster["available_node_types"]
    assert "downloader" not in types[cluster["head_node_type"]]["resources"]
    workers = [t for name, t in types.items() if name != cluster["head_node_type"]]
    assert all(isinstance(t["resources"]["downloader"], int) and t["resources"]["downloader"] >= 1 for t in workers)
    assert all(t["node_config"].get("InstanceMarketOptions", {}).get("MarketType") == "spot" for t in workers)
    assert f'"ray[default]=={ray.__version__}"' in " ".join(cluster["setup_commands"])
    starts = cluster["head_start_ray_commands"] + cluster["worker_start_ray_commands"]
    assert all("ulimit -n 65536" in c for c in starts if "ray start" in c)


def test_cluster_yaml_says_what_raycollect_needs(cluster):
    raycollect_needs(cluster)
    from raycollect.config import WorkflowConfig

    nodes = cluster["available_node_types"]["downloader"]
    slots = cluster["max_workers"] * nodes["resources"]["downloader"]
    assert WorkflowConfig.model_fields["max_actors"].default == slots  # the default fills the largest cluster


@pytest.mark.parametrize("breakage", ["no_iam_downloader", "no_iam_head", "unpinned", "no_image"])
def test_a_copy_without_credentials_or_a_pinned_version_fails(cluster, breakage):
    broken = copy.deepcopy(cluster)
    if breakage == "no_iam_downloader":
        del broken["available_node_types"]["downloader"]["node_config"]["IamInstanceProfile"]
    elif breakage == "no_iam_head":
        del broken["available_node_types"]["head"]["node_config"]["IamInstanceProfile"]
    elif breakage == "unpinned":
        broken["docker"]["image"] = "rayproject/ray:latest"
    else:
        del broken["docker"]
    ray_checks(broken)  # still valid for Ray: only raycollect's own check catches it
    with pytest.raises(AssertionError, match=r"IAM instance profile|not pinned"):
        raycollect_needs(broken)


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
