"""Shared fixtures: tiny models on random embeddings (unit tests run in milliseconds), a small
prepared data set, one local Ray instance. Shared helpers without fixtures: ``helpers.py``."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
if "N2R_CACHE" not in os.environ:        # one data cache per test session (subprocesses and Ray workers inherit it)
    import atexit
    import shutil
    import tempfile

    os.environ["N2R_CACHE"] = tempfile.mkdtemp(prefix="n2r-test-cache-")
    atexit.register(shutil.rmtree, os.environ["N2R_CACHE"], True)

# Two actors less per Ray cluster and per Train run, for every Ray process these tests start (local
# instances, cluster nodes, `n2r` commands): Ray's usage statistics (Ray Data reports to a collection
# actor; nothing leaves this machine) and Ray Train's preemption watcher (it polls for node drain
# notices, which no test sends: their nodes die by SIGKILL).
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")

from pathlib import Path

import pytest
import torch

from n2r.batch import collate_text
from n2r.config import ModelConfig
from n2r.models import build_rationalizer
from tests.helpers import GRAPH_RUN, TEXT_RUN

torch.set_num_threads(2)

# Ray workers import train functions defined in test modules by their module name (tests.…)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_gru():
    torch.manual_seed(0)
    cfg = ModelConfig(encoder="gru", hidden_size=6, dropout=0.0)
    return build_rationalizer(cfg, embedding_matrix=torch.randn(30, 8))


@pytest.fixture
def text_batch():
    examples = [
        {"input_ids": [2, 3, 4, 5, 6], "label": 1, "rationale": [0, 1, 1, 0, 0]},
        {"input_ids": [7, 8, 9], "label": 0, "rationale": [1, 0, 0]},
        {"input_ids": [10, 11, 12, 13], "label": 1, "rationale": [0, 0, 0, 1]},
    ]
    return collate_text(examples)


@pytest.fixture(scope="session")
def small_data():
    """Synthetic planted-rationale text, GloVe-style ids over random 8-d embeddings."""
    from n2r.data import PreparedData
    from n2r.data.schema import text_table
    from n2r.data.synthetic import synthetic_text
    from n2r.data.tokenize import GloveTokenizer
    from n2r.embeddings import Vocabulary

    splits = synthetic_text(n_train=96, n_dev=32, n_test=32, min_len=5, max_len=9, seed=3)
    vocab = Vocabulary.build(r["tokens"] for rows in splits.values() for r in rows)
    torch.manual_seed(0)
    tokenize = GloveTokenizer(vocab)
    return PreparedData("text", {s: tokenize(text_table(rows)) for s, rows in splits.items()},
                        inputs={"embedding_matrix": torch.randn(len(vocab), 8)}, tokenizer=tokenize)


def _exported(root: Path, run: dict) -> tuple[Path, dict]:
    from n2r.config import RunConfig
    from n2r.runner import train_run
    from pipelines.export import export_checkpoint

    summary = train_run(RunConfig.from_dict(run), root / "run")
    return export_checkpoint(root / "run" / "checkpoint.pt", root / "bundle", cache_dir=str(root / "cache")), summary


@pytest.fixture(scope="session")
def text_bundle(tmp_path_factory):
    """``(folder, training summary)`` of a GRU bundle trained 2 epochs on synthetic text (read-only:
    copy it before altering it)."""
    return _exported(tmp_path_factory.mktemp("text-bundle"), TEXT_RUN)


@pytest.fixture(scope="session")
def graph_bundle(tmp_path_factory):
    """The folder of a GCN bundle trained 1 epoch on 40 BA-2Motifs graphs (10 node features)."""
    return _exported(tmp_path_factory.mktemp("graph-bundle"), GRAPH_RUN)[0]


@pytest.fixture(scope="session")
def ray_local():
    """One real local Ray instance for the whole test session (started on first use)."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_TRAIN_ENABLE_STATE_ACTOR_RECONCILIATION", "0")
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
    import ray

    ray.init(num_cpus=4, resources={"TRAIN_DRIVER": 100}, include_dashboard=False, log_to_driver=False,
             # workers import train functions defined in test modules from this folder
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                                       "PYTHONPATH": str(ROOT)}})
    yield ray
    ray.shutdown()
