"""Production bundles: a trained rationalizer with everything needed to explain new inputs.

A bundle folder holds ``config.yaml`` (the complete run config; ``n2r train`` reproduces the
run from it), ``model.safetensors`` (the dev-selected weights), the vocabulary (``vocab.txt``)
or Hugging Face tokenizer and encoder config (``hf/``), ``metrics.json`` (the metrics card) and
``manifest.json`` with the SHA-256 of every other file. :func:`load_bundle` refuses a bundle
whose files do not match their manifest, and never unpickles anything.
"""
from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from n2r.config import RunConfig
from n2r.explanation import Explanation

BUNDLE_FORMAT = "n2r-bundle/1"
MANIFEST = "manifest.json"


class BundleError(RuntimeError):
    """A bundle that is incomplete, altered or not an n2r bundle; the message names the file."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_bundle(out: str | Path, cfg: RunConfig, state: dict[str, torch.Tensor], metrics: dict[str, Any],
                vocab=None, tokenizer=None, encoder_config=None) -> Path:
    """Write a bundle folder (see the module docstring) and its manifest."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg.to_yaml(out / "config.yaml")
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / "model.safetensors"),
              metadata={"format": BUNDLE_FORMAT})
    if vocab is not None:
        (out / "vocab.txt").write_text("\n".join(vocab.words), encoding="utf-8")
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out / "hf"))
    if encoder_config is not None:
        encoder_config.save_pretrained(str(out / "hf"))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = {"format": BUNDLE_FORMAT, "files": {str(p.relative_to(out)): sha256_file(p) for p in files}}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return out


def code_version() -> str:
    """``n2r VERSION (GIT_SHA)`` of the running code (the SHA when it runs from a checkout)."""
    import subprocess

    import n2r

    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"n2r {n2r.__version__}" + (f" ({sha})" if sha else "")


def save_run_bundle(out: str | Path, cfg: RunConfig, model: torch.nn.Module, data, *, best_epoch: int,
                    dev: dict[str, float], test: dict[str, float], epochs_trained: int,
                    extra: dict[str, Any] | None = None) -> Path:
    """The bundle of one trained run: ``model`` holds the dev-selected weights, ``data`` is the run's
    :class:`~n2r.data.PreparedData` (vocabulary or tokenizer); the metrics card records the data
    variant, the dev-selected epoch and its dev figures, the test figures, the achieved sparsity,
    the selection rule and the code version. Used by ``n2r train --out`` and ``n2r export``."""
    import copy

    cfg = copy.deepcopy(cfg)
    if cfg.model.encoder == "gcn" and cfg.model.in_channels is None:
        cfg.model.in_channels = data.num_features          # the bundle must rebuild without the data
    if cfg.model.encoder != "gcn" and cfg.data.text_rule is None:
        from n2r.data import text_rule_of

        cfg.data.text_rule = text_rule_of(cfg.data)         # raw text is split as the training text was
    metrics = {**(extra or {}), "data_variant": data.info.get("variant"), "best_epoch": best_epoch, "dev": dev,
               "test": test, "achieved_sparsity": {"dev": dev.get("sparsity"), "test": test.get("sparsity")},
               "sparsity_target": cfg.objective.sparsity_target, "seed": cfg.train.seed,
               "selection": {"metric": cfg.train.selection_metric, "sparsity_tolerance": cfg.train.sparsity_tolerance},
               "epochs_trained": epochs_trained, "code_version": code_version()}
    bert = cfg.model.encoder == "bert"
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}   # shared tables stored apart
    return save_bundle(out, cfg, state, metrics, vocab=data.vocab,
                       tokenizer=data.tokenizer.tokenizer if bert else None,
                       encoder_config=model.generator.encoder.config if bert else None)


def verify_bundle(path: str | Path) -> dict[str, Any]:
    root = Path(path)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{manifest_path}: missing; not an n2r bundle")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{manifest_path}: not valid JSON ({exc.msg})") from None
    if manifest.get("format") != BUNDLE_FORMAT or not isinstance(manifest.get("files"), dict):
        raise BundleError(f"{manifest_path}: not an {BUNDLE_FORMAT} manifest")
    for name, expected in manifest["files"].items():
        file = root / name
        if not file.is_file():
            raise BundleError(f"{file}: listed in the manifest but missing")
        if sha256_file(file) != expected:
            raise BundleError(f"{file}: SHA-256 differs from the manifest (altered or truncated)")
    extra = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                   if p.is_file() and p.name != MANIFEST and str(p.relative_to(root)) not in manifest["files"])
    if extra:
        raise BundleError(f"{root / extra[0]}: not listed in the manifest")
    return manifest


@dataclass
class Bundle:
    """A loaded bundle: the model in eval mode plus what turns raw inputs into batches."""

    path: Path
    config: RunConfig
    model: Any
    metrics: dict[str, Any]
    vocab: Any = None
    tokenizer: Any = None
    device: torch.device = torch.device("cpu")

    @property
    def kind(self) -> str:
        return "graph" if self.config.model.encoder == "gcn" else "text"

    @property
    def text_rule(self) -> str:
        """How this bundle splits raw text into tokens (:mod:`n2r.data.text_rules`): the rule its
        training text followed, recorded at export (older bundles: their data set's rule)."""
        from n2r.data import text_rule_of

        return text_rule_of(self.config.data)

    def explain(self, item: dict[str, Any] | str) -> Explanation:
        """The :class:`~n2r.explanation.Explanation` of one input (see :mod:`n2r.inputs` for the
        input forms)."""
        return self.explain_many([item])[0]

    def explain_many(self, items, limits=None) -> list[Explanation]:
        """:meth:`explain` for several inputs, batched by length; an input the model cannot take
        raises :class:`n2r.inputs.InputError` naming it."""
        from n2r.explain import explain_many

        return explain_many(self, items, limits)


def load_bundle(path: str | Path, device: str = "cpu") -> Bundle:
    """Verify the manifest, rebuild the model from its config and load the safetensors weights."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from n2r.embeddings import Vocabulary
    from n2r.models import build_rationalizer

    root = Path(path)
    verify_bundle(root)
    cfg = RunConfig.from_yaml(root / "config.yaml")
    try:
        state = load_file(str(root / "model.safetensors"))
    except (SafetensorError, OSError) as exc:
        raise BundleError(f"{root / 'model.safetensors'}: unreadable weights ({exc})") from None
    vocab = tokenizer = None
    inputs: dict[str, Any] = {}
    if cfg.model.encoder == "gru":
        vocab = Vocabulary((root / "vocab.txt").read_text(encoding="utf-8").split("\n"))
        inputs["embedding_matrix"] = torch.zeros_like(state["generator.embedding.weight"])
    elif cfg.model.encoder == "bert":
        from transformers import AutoTokenizer

        cfg.model.checkpoint = str(root / "hf")
        tokenizer = AutoTokenizer.from_pretrained(str(root / "hf"), local_files_only=True)
        inputs["pretrained"] = False
    model = build_rationalizer(cfg.model, **inputs)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise BundleError(f"{root / 'model.safetensors'}: weights do not match the config: {exc}") from None
    metrics = json.loads((root / "metrics.json").read_text())
    target = torch.device(device)
    return Bundle(root, cfg, model.to(target).eval(), metrics, vocab, tokenizer, target)


def render_html(results: list[Explanation]) -> str:
    """Inputs with their rationale highlighted, one block per explained text."""
    blocks = []
    for r in results:
        words = [f"<mark>{html.escape(t)}</mark>" if bit else html.escape(t) for t, bit in zip(r.tokens, r.mask)]
        blocks.append(f"<div class='item'><p class='pred'>label {r.label} (p = {r.probability:.3f})</p>"
                      f"<p>{' '.join(words)}</p></div>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}mark{background:#ffd54f}"
             ".item{border-bottom:1px solid #ddd;padding:.5em 0}.pred{color:#555;font-size:.9em}")
    return f"<!doctype html><meta charset='utf-8'><title>n2r rationales</title><style>{style}</style>{''.join(blocks)}"
