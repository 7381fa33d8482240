"""What several test modules share: builders of small inputs in their source formats, the CLI
runner, benchmark scripts as modules. Fixtures are in ``conftest.py``; this module has none."""
from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from n2r.config import ObjectiveConfig

ROOT = Path(__file__).resolve().parents[1]

# The runs behind the session's bundle fixtures (``conftest.py``)
TEXT_RUN = {"data": {"name": "synthetic-text", "options": {"n_train": 96, "n_dev": 32, "n_test": 32,
                                                           "min_len": 5, "max_len": 9},
                     "text_rule": "ptb"},         # not the generated set's own rule: raw text must follow it
            "model": {"encoder": "gru", "hidden_size": 8},
            "objective": {"name": "n2r", "sparsity_target": 0.2},
            "train": {"epochs": 2, "batch_size": 16}}
GRAPH_RUN = {"data": {"name": "ba2motifs", "options": {"n_graphs": 40, "base_nodes": 8}},
             "model": {"encoder": "gcn", "hidden_size": 8, "degree_bins": 4},
             "objective": {"name": "n2r", "sparsity_target": 0.2}, "train": {"epochs": 1, "batch_size": 8}}

# A tiny sweep file (pipelines/sweep_file.py) the sweep tests vary
TINY_SWEEP = {
    "name": "tiny",
    "base": {"model": {"encoder": "gru", "hidden_size": 8}, "objective": {"sparsity_target": 0.2},
             "train": {"epochs": 2, "batch_size": 16, "num_threads": 1}},
    "datasets": [{"name": "synthetic-text", "options": {"n_train": 96, "n_dev": 32, "n_test": 32,
                                                        "min_len": 5, "max_len": 9}}],
    "encoders": ["gru"],
    "objectives": ["n2r"],
    "space": {"objective.lambda_sparsity": {"loguniform": [0.5, 10.0]}, "train.lr": {"loguniform": [1e-3, 1e-2]}},
    "metric": {"select": "accuracy", "sparsity_tolerance": 0.1},
    "search": {"num_samples": 3, "seed": 0, "max_concurrent_trials": 2},
    "scheduler": {"type": "none"},
}


def with_changes(**changes):
    """``TINY_SWEEP`` with ``a__b__c=value`` changes (nested keys joined by ``__``)."""
    spec = json.loads(json.dumps(TINY_SWEEP))
    for dotted, value in changes.items():
        node = spec
        *parents, last = dotted.split("__")
        for key in parents:
            node = node[key]
        node[last] = value
    return spec


# CUDA tests run where a GPU is (benchmarks/gpu_check.sh) and are reported as skipped elsewhere
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

# Beer review lines: five scores, a TAB, the text; aspect-0 scores 0.9 … 0.0 (0.5 is neutral, dropped)
GOOD = [f"{s} 0.5 0.5 0.5 0.5\tword{i} text here" for i, s in enumerate(
    ["0.9", "0.8", "0.7", "0.6", "0.1", "0.2", "0.5", "0.3", "1.0", "0.0"])]


def write_beer(root, heldout_lines, annotations=None, train_lines=None):
    """A Beer folder (``reviews.aspect0.{heldout,train}.txt.gz``, ``annotations.json``)."""
    root.mkdir(parents=True, exist_ok=True)
    with gzip.open(root / "reviews.aspect0.heldout.txt.gz", "wt") as f:
        f.write("".join(line + "\n" for line in heldout_lines))
    if train_lines is not None:
        with gzip.open(root / "reviews.aspect0.train.txt.gz", "wt") as f:
            f.write("".join(line + "\n" for line in train_lines))
    annotations = annotations if annotations is not None else [
        {"x": ["dark", "pour", "nice", "head"], "y": [0.9, 0.5, 0.5, 0.5, 0.5], "0": [[0, 2]], "1": [], "2": [],
         "3": [], "4": []},
        {"x": ["murky"], "y": [0.5, 0.5, 0.5, 0.5, 0.5], "0": [[0, 1]], "1": [], "2": [], "3": [], "4": []},
        {"x": ["no", "spans"], "y": [0.1, 0.5, 0.5, 0.5, 0.5], "0": [], "1": [], "2": [], "3": [], "4": []},
    ]
    (root / "annotations.json").write_text("".join(json.dumps(a) + "\n" for a in annotations))
    return root


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m n2r.cli ARGS`` (the library's commands) in a new process with a bounded time;
    output captured. For tests of the process itself (its streams, what it imports); a command's
    behaviour is tested with :func:`invoke`."""
    return subprocess.run([sys.executable, "-m", "n2r.cli", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``n2r.cli.main(ARGS)`` in this process — the code ``python -m n2r.cli ARGS`` runs, without a new
    interpreter importing torch and the data stack again (3–4 s a call here): the exit status (argparse's
    usage errors included), stdout and stderr captured, as :func:`run_cli` returns them. ``env`` is
    set for the call only; the logging set-up and torch's thread count that a command changes are put
    back afterwards, so later tests see neither."""
    import contextlib
    import io
    import logging

    from n2r.cli import main
    from n2r.logs import LOGGERS

    previous_env = {key: os.environ.get(key) for key in (env or {})}
    loggers = [logging.getLogger(name) for name in LOGGERS]
    previous_logging = [(logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    threads = torch.get_num_threads()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.update(env or {})
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(args))
            except SystemExit as exc:                       # argparse: usage errors, --help
                status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        for key, value in previous_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for logger, (handlers, level, propagate) in zip(loggers, previous_logging):
            logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate
        torch.set_num_threads(threads)
    return subprocess.CompletedProcess(["n2r", *args], status, out.getvalue(), err.getvalue())


def load_benchmark(name: str):
    """A script of ``benchmarks/`` imported as a module (the folder is not a package)."""
    path = ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def objective_config(name: str, **kw) -> ObjectiveConfig:
    """An objective with small coefficients for unit tests (sparsity 0.3, every λ 1)."""
    base = dict(name=name, sparsity_target=0.3, lambda_sparsity=1.0, lambda_continuity=1.0, lambda_norm=1.0)
    base.update(kw)
    return ObjectiveConfig(**base)
