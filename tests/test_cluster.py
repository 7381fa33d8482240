"""Cluster launcher configs validate against the schema shipped in the installed Ray and match the pins."""
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["aws.yaml", "gcp.yaml"])
def test_launcher_config_validates_and_matches_the_pins(name):
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((ROOT / "cluster" / name).read_text())
    validate_config(prepare_config(config))           # ray/autoscaler/ray-schema.json + launcher checks
    ray_version, torch_version = version("ray"), version("torch").split("+")[0]
    assert config["docker"]["image"].startswith(f"rayproject/ray:{ray_version}-py311")
    setup = " ".join(config["setup_commands"])
    assert f'"ray[default,tune,train,data]=={ray_version}"' in setup and f"torch=={torch_version}" in setup
    assert "pip install -e /home/ray/n2r" in setup and config["file_mounts"]["/home/ray/n2r"] == "."
    workers = config["available_node_types"]["gpu_worker"]
    assert workers["resources"]["GPU"] == 1 and workers["min_workers"] == 0 and workers["max_workers"] >= 1
    assert config["available_node_types"]["head"]["resources"]["TRAIN_DRIVER"] > 0   # multi-worker trial drivers
    assert config["idle_timeout_minutes"] > 0
