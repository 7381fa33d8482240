"""Production bundles: a trained rationalizer with everything needed to explain new inputs.

A bundle folder holds ``config.yaml`` (the complete run config; ``n2r train`` reproduces the
run from it), ``model.safetensors`` (the dev-selected weights), what the encoder family stores
(the GRU's vocabulary ``vocab.txt``; BERT's Hugging Face tokenizer and encoder config, ``hf/``),
``metrics.json`` (the metrics card) and ``manifest.json`` with the SHA-256 of every other file.
:func:`load_bundle` refuses a bundle whose files do not match their manifest, and never unpickles
anything.
"""
from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from n2r.config import RunConfig
from n2r.explanation import Explanation
from n2r.errors import BundleError  # noqa: F401  (raised here; defined there)

BUNDLE_FORMAT = "n2r-bundle/1"
MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_bundle(out: str | Path, cfg: RunConfig, state: dict[str, torch.Tensor], metrics: dict[str, Any],
                write_files: Callable[[Path], None] | None = None) -> Path:
    """Write a bundle folder (see the module docstring): ``write_files(folder)`` adds what the
    encoder family stores (:meth:`~n2r.models.family.EncoderFamily.write_bundle_files`); the
    manifest lists everything."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg.to_yaml(out / "config.yaml")
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / "model.safetensors"),
              metadata={"format": BUNDLE_FORMAT})
    if write_files is not None:
        write_files(out)
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

    from n2r.models.family import family_of

    cfg = copy.deepcopy(cfg)
    family = family_of(cfg.model)
    family.complete_config(cfg, data)                      # what rebuilding needs without the data
    metrics = {**(extra or {}), "data_variant": data.info.get("variant"), "best_epoch": best_epoch, "dev": dev,
               "test": test, "achieved_sparsity": {"dev": dev.get("sparsity"), "test": test.get("sparsity")},
               "sparsity_target": cfg.objective.sparsity_target, "seed": cfg.train.seed,
               "selection": {"metric": cfg.train.selection_metric, "sparsity_tolerance": cfg.train.sparsity_tolerance},
               "epochs_trained": epochs_trained, "code_version": code_version()}
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}   # shared tables stored apart
    return save_bundle(out, cfg, state, metrics, lambda folder: family.write_bundle_files(folder, model, data))


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
    """A loaded bundle: the model in eval mode plus what turns raw inputs into batches —
    ``text_encoder``, the family's (a :class:`~n2r.embeddings.Vocabulary` for the GRU, the Hugging
    Face tokenizer for BERT, ``None`` for graphs)."""

    path: Path
    config: RunConfig
    model: Any
    metrics: dict[str, Any]
    text_encoder: Any = None
    device: torch.device = torch.device("cpu")

    @property
    def family(self):
        from n2r.models.family import family_of

        return family_of(self.config.model)

    @property
    def kind(self) -> str:
        """``"text"`` or ``"graph"``: what the bundle's encoder family reads."""
        return self.family.data_kind

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

    from n2r.models import build_rationalizer, family_of

    root = Path(path)
    verify_bundle(root)
    cfg = RunConfig.from_yaml(root / "config.yaml")
    try:
        state = load_file(str(root / "model.safetensors"))
    except (SafetensorError, OSError) as exc:
        raise BundleError(f"{root / 'model.safetensors'}: unreadable weights ({exc})") from None
    inputs, text_encoder = family_of(cfg.model).load_bundle_parts(root, cfg, state)
    model = build_rationalizer(cfg.model, **inputs)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise BundleError(f"{root / 'model.safetensors'}: weights do not match the config: {exc}") from None
    metrics = json.loads((root / "metrics.json").read_text())
    target = torch.device(device)
    return Bundle(root, cfg, model.to(target).eval(), metrics, text_encoder, target)


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
