"""Import structure: the library stays free of Ray and of the pipelines (read from the source), the
pipelines have no import cycle, and the command loads PyTorch only when a command needs it."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imports(path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(package: str) -> dict[str, Path]:
    return {".".join(p.relative_to(ROOT).with_suffix("").parts): p for p in sorted((ROOT / package).rglob("*.py"))}


def test_the_library_imports_neither_the_pipelines_nor_ray():
    offenders = []
    for name, path in modules("n2r").items():
        bad = {m for m in imports(path) if m.split(".")[0] in ("pipelines", "ray")}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert not offenders, offenders


def test_the_pipelines_have_no_import_cycle():
    mods = modules("pipelines")
    graph = {name: {m for m in imports(path) if m in mods and m != name} for name, path in mods.items()}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def test_the_cycle_check_sees_a_cycle(tmp_path, monkeypatch):
    """The checker itself: two modules importing each other are reported."""
    import pytest

    package = tmp_path / "pipelines"
    package.mkdir()
    (package / "a.py").write_text("from pipelines.b import x\n")
    (package / "b.py").write_text("def f():\n    from pipelines.a import y\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(AssertionError, match="import cycle"):
        test_the_pipelines_have_no_import_cycle()


def test_the_library_command_points_at_the_pipelines_for_ray_commands(capsys):
    from n2r import cli

    assert cli.main(["sweep", "x.yaml"]) == 2
    assert "python -m pipelines.cli sweep" in capsys.readouterr().err
    from pipelines.cli import build_parser

    args = build_parser().parse_args(["train", "run.yaml", "--workers", "2"])
    assert args.workers == 2 and args.func.__module__ == "pipelines.cli"
    assert build_parser().parse_args(["explain", "b", "--text", "t"]).func is cli._explain


def test_the_command_loads_pytorch_only_for_a_command_that_needs_it():
    """Importing the command (``n2r --help``, ``n2r data list``) and the config schema does not load
    PyTorch (about 2 s of each such call; a config file is checked against the model families,
    which do); the public names of ``n2r`` still resolve, to the defining modules' objects; a GRU's
    optimizer does not load transformers' modeling module (about 4 s of every training process)."""
    probe = """
import sys
import n2r, n2r.cli, pipelines.cli
assert "torch" not in sys.modules, "torch loaded by the imports"
from n2r import RunConfig, ConfigError
assert "torch" not in sys.modules, "torch loaded by the config names"
from n2r import train_run, load_bundle
import n2r.runner, n2r.bundle, n2r.errors
assert train_run is n2r.runner.train_run and load_bundle is n2r.bundle.load_bundle
assert n2r.bundle.BundleError is n2r.errors.BundleError and "train_run" in dir(n2r)
try:
    n2r.no_such_name
except AttributeError as exc:
    assert "no_such_name" in str(exc)
else:
    raise AssertionError("unknown name resolved")
import torch
from n2r.config import ModelConfig, TrainConfig
from n2r.engine import build_optimizer
model = n2r.build_rationalizer(ModelConfig(encoder="gru", hidden_size=6), embedding_matrix=torch.randn(30, 8))
build_optimizer(model, TrainConfig())
assert "transformers.modeling_utils" not in sys.modules, "a GRU's optimizer loaded transformers (about 4 s)"
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    from n2r import __all__ as public
    assert {"RunConfig", "train_run", "load_bundle", "fit", "evaluate", "build_rationalizer"} <= set(public)
