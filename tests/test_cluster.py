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


def _groups(spec):
    return spec["headGroupSpec"], spec["workerGroupSpecs"]


@pytest.mark.parametrize("name, kind", [("raycluster.yaml", "RayCluster"), ("rayjob.yaml", "RayJob")])
def test_kuberay_manifests_carry_the_required_fields(name, kind):
    manifest = yaml.safe_load((ROOT / "cluster" / "kuberay" / name).read_text())
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == kind
    spec = manifest["spec"] if kind == "RayCluster" else manifest["spec"]["rayClusterSpec"]
    assert spec["rayVersion"] == version("ray")
    head, workers = _groups(spec)
    assert "TRAIN_DRIVER" in head["rayStartParams"]["resources"]
    assert head["template"]["spec"]["containers"][0]["image"].endswith(f"{version('ray')}-py311-gpu")
    gpu = workers[0]
    assert gpu["minReplicas"] <= gpu["replicas"] <= gpu["maxReplicas"] and gpu["maxReplicas"] >= 1
    limits = gpu["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 1 and gpu["rayStartParams"]["num-gpus"] == "1"


def test_rayjob_entrypoint_parses_with_the_real_cli():
    import shlex

    from pipelines.cli import build_parser
    from pipelines.spec import SweepSpec

    manifest = yaml.safe_load((ROOT / "cluster" / "kuberay" / "rayjob.yaml").read_text())
    argv = shlex.split(manifest["spec"]["entrypoint"])
    assert argv[0] == "n2r"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "sweep" and args.data_dir == "/data"
    assert args.storage.startswith("s3://")       # trials and checkpoints survive the cluster
    assert args.sweep_files and all(path.endswith("-gpu.yaml") for path in args.sweep_files)
    for path in args.sweep_files:
        SweepSpec.from_yaml(ROOT / path)          # the shipped sweep file it names is valid
