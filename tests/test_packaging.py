"""The repository's install files agree with each other and with what is installed."""
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    pins = {}
    for line in lines:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;]+)", line.strip())
        if m:
            pins[m.group(1).lower().replace("_", "-")] = (m.group(2) or "", m.group(3))
    return pins


def pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["test"]
    assert all("==" in d for d in deps), "every dependency is pinned exactly"
    return _pins(deps)


def test_environment_yml_pins_match_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "python=3.11" in env["dependencies"]
    assert any("whl/cu" in line for line in pip_section), "GPU nodes take torch's CUDA build"
    assert _pins(pip_section) == pyproject_pins()


def test_ray_carries_the_default_extra():
    extras, _ = pyproject_pins()["ray"]
    assert {"default", "tune", "train", "data"} <= set(extras.strip("[]").split(","))


def test_installed_versions_are_the_pinned_ones():
    for name, (_, pinned) in pyproject_pins().items():
        assert version(name).split("+")[0] == pinned, name
