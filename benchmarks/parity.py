"""Parity harness: the project's engine in reference-compatible mode beside the authors' code.

    python benchmarks/parity.py --reference DIR --data-dir ../shared/data/beer --steps 200
    python benchmarks/parity.py --reference DIR --tiny            # the fixed case of the parity test
    python benchmarks/parity.py --reference DIR --data-dir ../shared/data/beer --check-data   # inputs
    python benchmarks/parity.py --reference DIR --data-dir ../shared/data/beer --check-eval   # metrics
    python benchmarks/parity.py --reference DIR --data-dir ../shared/data/beer --curve 300    # their loop

``DIR`` holds the authors' repository (jugechengzi/Rationalization-N2R, MIT), fetched into a folder
git ignores (``.reference/``); its modules are imported from there, never copied. Both sides start
from identical weights (the project's initial weights copied into the reference's model), see the
same batches (the Beer data of ``beer-heldout-split`` with ``split: file_order``, padded to 256, in
one seeded order) and draw identical dropout and Gumbel noise (the global RNG is reseeded before
each batch on both sides; they draw in the same order and shapes). The project's side runs
:func:`n2r.reference.reference_compatible` of the published Beer configuration; ``--set
FIELD=VALUE`` flips single fields (e.g. ``--set objective.padding_in_penalties=false``) to see
what a difference does to the losses.

Printed per batch and update (``step1``: CE + Ω; ``step2``: Ω + norm with the predictor frozen):
CE, Ω_s, Ω_c, the norm term, gradient norms of the generator and predictor, selected tokens, and
the largest parameter difference after the update; then the first update where any of them differs
by more than ``--tolerance`` (relative). The reference's training functions do their own backward
and step, so its loss terms are recomputed from its recorded forward outputs with its own
``metric`` functions, and its gradient norms are read by a thin optimizer proxy at ``step()``.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import math
import sys
import types
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from n2r.batch import TableCollate, TextBatch, collate_text  # noqa: E402
from n2r.config import RunConfig, parse_overrides  # noqa: E402
from n2r.data import prepare_data  # noqa: E402
from n2r.engine import build_optimizer, make_update  # noqa: E402
from n2r.metrics import RationaleCounts  # noqa: E402
from n2r.models import build_rationalizer  # noqa: E402
from n2r.models.base import set_cpu_parallelism  # noqa: E402
from n2r.objectives import build_objective  # noqa: E402
from n2r.reference import reference_compatible  # noqa: E402

TERMS = ("ce", "sparsity", "continuity", "norm", "grad_generator", "grad_predictor", "selected", "param_diff")
REFERENCE_FUNCTIONS = {"n2r": "train_pred_mochang_withoutacc", "rnp+n2r": "train_pred_mochang"}

# The published Beer-Appearance set-up (README of the reference repository).
BEER = {"data": {"name": "beer-heldout-split", "options": {"aspect": 0, "split": "file_order"}},
        "model": {"encoder": "gru", "hidden_size": 100, "dropout": 0.2},
        "objective": {"name": "n2r", "sparsity_target": 0.125, "lambda_sparsity": 11.0,
                      "lambda_continuity": 12.0, "lambda_norm": 1.0},
        "train": {"batch_size": 128, "lr": 1e-4, "bf16": False, "seed": 1}}


# --------------------------------------------------------------------------- the fixed tiny case
TINY_IDS = [[5, 3, 9, 1, 7, 2, 8, 4, 6, 3, 5, 10], [7, 7, 2, 9, 1, 4],
            [3, 8, 8, 6, 2, 5, 9, 10, 4], [2, 6, 1, 5]]
TINY_LABELS = [1, 0, 1, 0]
TINY_PAD_TO = 16
TINY_SEED = 7


def tiny_case(objective: str = "n2r") -> tuple[RunConfig, torch.Tensor, list[TextBatch]]:
    """Vocabulary of 11 ids (0 padding, 1 an unknown word, both zero vectors; 2–10 seeded
    normal vectors of size 6), four texts padded to 16, hidden size 4 per direction, the
    published coefficients, reference-compatible mode. Returns ``(config, embedding, [batch])``."""
    generator = torch.Generator().manual_seed(TINY_SEED)
    embedding = torch.randn(11, 6, generator=generator)
    embedding[:2] = 0.0
    raw = json.loads(json.dumps(BEER))
    raw["data"] = {"name": "synthetic-text"}
    raw["model"]["hidden_size"] = 4
    raw["objective"]["name"] = objective
    raw["train"]["batch_size"] = 4
    cfg = reference_compatible(RunConfig.from_dict(raw), pad_to=TINY_PAD_TO)
    batch = collate_text([{"input_ids": ids, "label": y} for ids, y in zip(TINY_IDS, TINY_LABELS)],
                         pad_to=TINY_PAD_TO)
    return cfg, embedding, [batch]


def build_project_model(cfg: RunConfig, embedding: torch.Tensor, seed: int):
    torch.manual_seed(seed)
    model = build_rationalizer(cfg.model, embedding_matrix=embedding)
    set_cpu_parallelism(model, False)
    return model


# --------------------------------------------------------------------------- the project's side
class GradientRecorder:
    """Wraps an optimizer; at each ``step()`` records the gradient norm of each named group."""

    def __init__(self, optimizer: torch.optim.Optimizer, groups: dict[str, list[torch.Tensor]]):
        self.optimizer, self.groups, self.records = optimizer, groups, []

    def __getattr__(self, name: str):
        return getattr(self.optimizer, name)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, *args, **kwargs):
        record = {}
        for name, params in self.groups.items():
            grads = [p.grad.detach().flatten() for p in params if p.grad is not None]
            record[f"grad_{name}"] = float(torch.cat(grads).norm()) if grads else 0.0
        self.records.append(record)
        return self.optimizer.step(*args, **kwargs)


def project_groups(model) -> dict[str, list[torch.Tensor]]:
    embedding = {id(model.generator.embedding.weight)}
    return {name: [p for p in getattr(model, name).parameters() if id(p) not in embedding]
            for name in ("generator", "predictor")}


def project_step(model, objective, recorder: GradientRecorder, batch: TextBatch) -> list[dict[str, float]]:
    """One batch through ``objective.train_step``; per update: terms, gradient norms and the
    number of selected real tokens (read from the model's outputs)."""
    model.train()
    before = len(recorder.records)
    selected: list[float] = []
    forward = model.forward

    def recorded(*args, **kwargs):
        out = forward(*args, **kwargs)
        selected.append(float(out.z.detach().sum()))
        return out

    model.forward = recorded
    try:
        logs = objective.train_step(model, batch, make_update(model, recorder))
    finally:
        del model.forward
    updates = []
    for i, prefix in enumerate(sorted({k.split("/")[0] for k in logs})):
        terms = {k.split("/")[1]: float(v) for k, v in logs.items() if k.startswith(prefix + "/")}
        row = {"update": prefix, "ce": terms.get("ce", math.nan), "sparsity": terms["sparsity"],
               "continuity": terms["continuity"], "norm": terms.get("norm", math.nan),
               "selected": selected[i], **recorder.records[before + i]}
        updates.append(row)
    return updates


# --------------------------------------------------------------------------- the reference's side
class ReferenceProgram(NamedTuple):
    """One of the authors' training programs: which repository, model class, per-epoch training
    function and evaluation forward (returning the sampled mask and the logits first), and how
    their script builds the optimizer (``"n2r"``: :func:`reference_optimizer`; ``"one_group"``:
    one Adam over the whole model at ``lr``; ``"two_groups"``: the generator's parameters and the
    rest, both at ``lr``, the training function then rescales the second group each batch).
    ``gradient_lists``: the training function takes two more arguments, lists it appends gradient
    records to (the N2R and DR scripts' ``grad, grad_loss``)."""

    repository: str
    model_class: str
    train_function: str
    evaluate: str
    optimizer: str
    gradient_lists: bool


REPOSITORIES = {"n2r": "jugechengzi/Rationalization-N2R", "fr": "jugechengzi/FR (its code/ folder)",
                "dr": "jugechengzi/Rationalization-DR"}


def reference_program(cfg: RunConfig) -> ReferenceProgram:
    """The authors' program for ``cfg`` (its ``repository`` a key of :data:`REPOSITORIES`).

    N2R and MMI+N2R are the N2R repository's loops (``--fr 1`` / ``--dr 1`` as its script sets
    them). MMI alone (``rnp``) is not in that repository; the FR and DR papers' repositories have it:
    RNP is FR's ``run_share_beer.py --share 0`` (``GenEncNoShareModel``, whose predictor has a
    LayerNorm), FR its ``--share 1`` (``GenEncShareModel``: one BiGRU *and one LayerNorm* for both,
    one Adam over everything), DR is ``norm_beer.py`` (``Sp_norm_model`` without spectral norm:
    the predictor's learning rate set each batch to the generator's × the batch's selected share,
    at least 0.05 — their rule, which ``train.predictor_lr_scale`` 0.1 stands for here). FR with
    DR is in neither repository and is refused."""
    name = cfg.objective.name
    if name in REFERENCE_FUNCTIONS:
        return ReferenceProgram("n2r", "Mochangmodel", REFERENCE_FUNCTIONS[name], "forward_predemb", "n2r", True)
    if name != "rnp":
        raise SystemExit(f"objective {name!r}: the authors' code has no such program")
    fr, dr = cfg.model.shared_encoder, cfg.train.predictor_lr_scale != 1.0
    if fr and dr:
        raise SystemExit("MMI with FR and DR together: neither the FR nor the DR repository has that program")
    if dr:
        return ReferenceProgram("dr", "Sp_norm_model", "train_sp_norm", "forward", "two_groups", True)
    return ReferenceProgram("fr", "GenEncShareModel" if fr else "GenEncNoShareModel", "train_share", "forward",
                            "one_group", False)


def import_reference(folder: str | Path, program: ReferenceProgram | None = None) -> types.SimpleNamespace:
    """The authors' ``model``, ``metric``, ``train_util`` and ``validate_util`` modules, imported
    from ``folder`` (a checkout of the repository ``program`` lives in; the N2R one by default)."""
    folder = Path(folder).resolve()
    repository, model_class = (program.repository, program.model_class) if program else ("n2r", "Mochangmodel")
    model_py = folder / "model.py"
    if (not model_py.is_file() or not (folder / "train_util.py").is_file()
            or f"class {model_class}(" not in model_py.read_text(errors="replace")):
        raise SystemExit(f"{folder}: not a checkout of {REPOSITORIES[repository]} "
                         f"(model.py with class {model_class}, train_util.py)")
    sys.path.insert(0, str(folder))
    try:
        for module in ("model", "metric", "train_util", "validate_util"):   # another checkout's, if imported
            sys.modules.pop(module, None)
        return types.SimpleNamespace(**{m: importlib.import_module(m)
                                        for m in ("model", "metric", "train_util", "validate_util")})
    finally:
        sys.path.remove(str(folder))


def reference_args(cfg: RunConfig, embedding: torch.Tensor) -> types.SimpleNamespace:
    """The reference's command-line arguments for ``cfg``: ``fr`` is ``model.shared_encoder``
    (FR); ``dr`` (DR) is carried by :func:`reference_optimizer`, as their script does it."""
    o = cfg.objective
    return types.SimpleNamespace(
        vocab_size=embedding.shape[0], embedding_dim=embedding.shape[1], pretrained_embedding=embedding.numpy().copy(),
        hidden_dim=2 * cfg.model.hidden_size, num_layers=1, fr=int(cfg.model.shared_encoder), dropout=cfg.model.dropout,
        num_class=cfg.model.num_classes, cls_lambda=o.ce_weight,
        sparsity_lambda=o.lambda_sparsity, continuity_lambda=o.lambda_continuity,
        sparsity_percentage=o.sparsity_target, mochang_lambda=o.lambda_norm, dis_lr=0,
        cell_type="GRU", tau=[1], sp_norm=0)          # the FR and DR repositories' arguments


def reference_optimizer(model, cfg: RunConfig, program: ReferenceProgram | None = None) -> torch.optim.Adam:
    """Their script's optimizer (``program``: the N2R repository's by default). N2R's script: with
    ``--fr 1`` one Adam group over the whole model at ``lr``; else the generator's group at ``lr``
    and the rest at ``lr`` (``--dr 1``: ``lr / 10``, here ``lr × train.predictor_lr_scale``). Their
    ``--fr 1`` ignores ``--dr``, so FR with a predictor scale has no reference counterpart and is
    refused. FR's script: one group; DR's: two groups at ``lr``, its training function then sets
    the second group's rate each batch."""
    lr, scale = cfg.train.lr, cfg.train.predictor_lr_scale
    kind = program.optimizer if program is not None else "n2r"
    if kind == "n2r" and cfg.model.shared_encoder:                    # --fr 1
        if scale != 1.0:
            raise SystemExit("model.shared_encoder with train.predictor_lr_scale: the reference's --fr 1 ignores --dr")
        kind = "one_group"
    if kind == "one_group":
        return torch.optim.Adam(model.parameters(), lr=lr)
    g_ids = {id(p) for p in model.generator.parameters()}
    return torch.optim.Adam([{"params": list(model.generator.parameters()), "lr": lr},
                             {"params": [p for p in model.parameters() if id(p) not in g_ids],
                              "lr": lr * scale if kind == "n2r" else lr}])


def copy_weights(project, reference) -> None:
    """The project's generator and predictor weights into the reference model's layout."""
    def gru(encoder, target):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(target, f"{name}_l0").data.copy_(getattr(encoder.forward_gru, f"{name}_l0"))
            getattr(target, f"{name}_l0_reverse").data.copy_(getattr(encoder.backward_gru, f"{name}_l0"))

    gen, pred = project.generator, project.predictor
    with torch.no_grad():
        gru(gen.encoder, reference.gen)
        gru(pred.encoder, reference.cls)          # the same module on both sides with FR
        reference.layernorm1.load_state_dict(gen.norm.state_dict())
        reference.gen_fc.load_state_dict(gen.head.state_dict())
        reference.cls_fc.load_state_dict(pred.classifier.state_dict())
        reference.embedding_layer.embedding.weight.data.copy_(gen.embedding.weight)


def parameter_difference(project, reference) -> float:
    pairs = []
    for encoder, target in ((project.generator.encoder, reference.gen), (project.predictor.encoder, reference.cls)):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            pairs.append((getattr(encoder.forward_gru, f"{name}_l0"), getattr(target, f"{name}_l0")))
            pairs.append((getattr(encoder.backward_gru, f"{name}_l0"), getattr(target, f"{name}_l0_reverse")))
    for a, b in ((project.generator.norm, reference.layernorm1), (project.generator.head, reference.gen_fc),
                 (project.predictor.classifier, reference.cls_fc)):
        pairs += list(zip(a.parameters(), b.parameters()))
    return max(float((a.detach() - b.detach()).abs().max()) for a, b in pairs)


class _Writer:
    def add_scalar(self, *args) -> None:
        pass


class ReferenceRunner:
    """Drives the authors' per-epoch training function one batch at a time and recovers each
    update's loss terms from the forward outputs it records (instance attributes wrap the model's
    methods; the reference's code is not changed)."""

    def __init__(self, ref: types.SimpleNamespace, cfg: RunConfig, embedding: torch.Tensor, project_model):
        self.ref, self.cfg = ref, cfg
        self.args = reference_args(cfg, embedding)
        self.model = ref.model.Mochangmodel(self.args)
        copy_weights(project_model, self.model)
        predictor = [p for m in (self.model.cls, self.model.cls_fc) for p in m.parameters()]
        self.recorder = GradientRecorder(reference_optimizer(self.model, cfg),
                                         {"generator": list(self.model.generator.parameters()), "predictor": predictor})
        self.train = getattr(ref.train_util, REFERENCE_FUNCTIONS[cfg.objective.name])
        self.outputs: list[tuple[str, Any]] = []
        for method in ("get_rationale", "pred_with_rationale", "forward", "forward_predemb"):
            self._record(method)

    def _record(self, method: str) -> None:
        original = getattr(self.model, method)

        def recorded(*args, **kwargs):
            out = original(*args, **kwargs)
            self.outputs.append((method, out))
            return out

        setattr(self.model, method, recorded)

    def step(self, batch: TextBatch) -> list[dict[str, float]]:
        inputs = batch.input_ids.masked_fill(batch.input_ids == 1, 0)     # unknown words share id 0 there
        masks = batch.attention_mask.long()
        before, self.outputs = len(self.recorder.records), []
        self.model.train()
        with contextlib.redirect_stdout(io.StringIO()):          # it prints the epoch's sparsity
            self.train(self.model, self.recorder, [(inputs, masks, batch.labels)], torch.device("cpu"), self.args,
                       (_Writer(), 0), [], [])
        metric, a = self.ref.metric, self.args
        names = [name for name, _ in self.outputs]
        if names[:2] == ["get_rationale", "pred_with_rationale"]:           # N2R: CE on the detached mask
            z1, logits1 = self.outputs[0][1], self.outputs[1][1]
        else:                                                                 # MMI+N2R: the full forward
            z1, logits1 = self.outputs[0][1]
        z2, _, h = self.outputs[-1][1]
        rows = []
        for update, z, logits, hidden in (("step1", z1, logits1, None), ("step2", z2, None, h)):
            z = z.detach()[:, :, 1]
            rows.append({"update": update,
                         "ce": float(F.cross_entropy(logits.detach(), batch.labels)) if logits is not None else math.nan,
                         "sparsity": float(metric.get_sparsity_loss(z, masks, a.sparsity_percentage)),
                         "continuity": float(metric.get_continuity_loss(z)),
                         "norm": (float(-torch.log(1e-6 + torch.norm(hidden.detach(), p=2, dim=1)).mean())
                                  if hidden is not None else math.nan),
                         "selected": float((z * masks).sum()),
                         **self.recorder.records[before + len(rows)]})
        return rows


# --------------------------------------------------------------------------- comparison
def run(reference_dir: str | Path, cfg: RunConfig, embedding: torch.Tensor, batches: list[TextBatch],
        seed: int = 1, noise_seed: int = 1000) -> list[dict[str, Any]]:
    """Both sides over ``batches``; one row per (batch, update) with each term on both sides."""
    ref = import_reference(reference_dir)
    model = build_project_model(cfg, embedding, seed)
    reference = ReferenceRunner(ref, cfg, embedding, model)
    objective = build_objective(cfg.objective)
    recorder = GradientRecorder(build_optimizer(model, cfg.train), project_groups(model))
    rows = []
    for index, batch in enumerate(batches):
        torch.manual_seed(noise_seed + index)
        theirs = reference.step(batch)
        torch.manual_seed(noise_seed + index)
        ours = project_step(model, objective, recorder, batch)
        diff = parameter_difference(model, reference.model)
        for mine, other in zip(ours, theirs):
            row = {"batch": index, "update": mine["update"]}
            for term in TERMS[:-1]:
                row[term] = (mine[term], other[term])
            row["param_diff"] = diff
            rows.append(row)
    return rows


def first_divergence(rows: list[dict[str, Any]], tolerance: float) -> dict[str, Any] | None:
    for row in rows:
        for term in TERMS[:-1]:
            ours, theirs = row[term]
            if math.isnan(ours) and math.isnan(theirs):
                continue
            if not math.isclose(ours, theirs, rel_tol=tolerance, abs_tol=tolerance):
                return {"batch": row["batch"], "update": row["update"], "term": term, "ours": ours, "theirs": theirs}
    return None


def print_rows(rows: list[dict[str, Any]], every: int = 1) -> None:
    head = ["batch", "update"] + [f"{t} (n2r / ref)" for t in TERMS[:-1]] + ["max |Δθ|"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        if row["batch"] % every:
            continue
        cells = [str(row["batch"]), row["update"]]
        cells += [f"{row[t][0]:.6g} / {row[t][1]:.6g}" for t in TERMS[:-1]]
        cells.append(f"{row['param_diff']:.2e}")
        print("| " + " | ".join(cells) + " |")


def beer_batches(cfg: RunConfig, data_dir: str, steps: int, batch_size: int, seed: int):
    """The first ``steps`` training batches of one seeded shuffle (reshuffled when exhausted)."""
    cfg.data.path = data_dir
    data = prepare_data(cfg.data, cfg.model)
    loader = data.loader("train", batch_size, shuffle=True, seed=seed, pad_to=cfg.train.pad_to)
    batches: list[TextBatch] = []
    while len(batches) < steps:
        batches += list(loader)
    return data.embedding_matrix, batches[:steps]


def reference_tensors(data, split: str, pad_to: int) -> tuple[torch.Tensor, ...]:
    """A split as the reference's loaders give it: ids padded to ``pad_to`` (unknown words id 0),
    0/1 masks, labels and, where annotated, rationale bits."""
    batch = TableCollate(data.splits[split], data.pad_id, pad_to)(list(range(data.splits[split].num_rows)))
    ids = batch.input_ids.masked_fill(batch.input_ids == 1, 0)
    out = (ids, batch.attention_mask.long(), batch.labels)
    return out + ((batch.rationale.long(),) if batch.rationale is not None else ())


def reference_model(reference_dir: str | Path, cfg: RunConfig, data) -> tuple[types.SimpleNamespace,
                                                                             types.SimpleNamespace, torch.nn.Module]:
    """The authors' modules (:func:`import_reference`), their arguments for ``cfg`` and their model
    for ``cfg`` over ``data``'s embedding (initialised from torch's current random state)."""
    program = reference_program(cfg)
    ref = import_reference(reference_dir, program)
    args = reference_args(cfg, data.embedding_matrix)
    return ref, args, getattr(ref.model, program.model_class)(args)


def reference_epochs(reference_dir: str | Path, cfg: RunConfig, data_dir: str, epochs: int, seed: int,
                     device: str = "cpu", checkpoint: str | Path | None = None):
    """The authors' own training function, epoch by epoch, on this project's data (their script's
    loop: its Adam, shuffled batches padded to 256, one training pass), then dev accuracy and the
    test rationale from their evaluation forward (sampled masks). Which program runs is
    :func:`reference_program`'s choice for ``cfg``; ``reference_dir`` is a checkout of the
    repository that holds it. Yields one row per epoch: ``dev_accuracy`` and ``test`` (accuracy,
    sparsity, P/R/F1 counted over real tokens with :class:`RationaleCounts`, and
    ``f1_reference_metric``, their validation's figure, which counts sampled padding as selected). With
    ``checkpoint`` the state (weights, optimizer, RNG) is saved after each epoch and a stopped run
    resumes from it."""
    from torch.utils.data import DataLoader, TensorDataset

    program = reference_program(cfg)
    cfg.data.path = data_dir
    data = prepare_data(cfg.data, cfg.model)
    pad_to = cfg.train.pad_to or 256
    device = torch.device(device)
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed(seed)
    ref, args, model = reference_model(reference_dir, cfg, data)
    model = model.to(device)
    optimizer = reference_optimizer(model, cfg, program)
    train = DataLoader(TensorDataset(*reference_tensors(data, "train", pad_to)), batch_size=cfg.train.batch_size,
                       shuffle=True)
    dev = DataLoader(TensorDataset(*reference_tensors(data, "dev", pad_to)), batch_size=cfg.train.batch_size)
    test = DataLoader(TensorDataset(*reference_tensors(data, "test", pad_to)), batch_size=cfg.train.batch_size)
    train_fn = getattr(ref.train_util, program.train_function)
    extra = ([], []) if program.gradient_lists else ()
    forward_eval = getattr(model, program.evaluate)
    start = 1
    if checkpoint is not None and Path(checkpoint).is_file():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        start = state["epoch"] + 1
    for epoch in range(start, epochs + 1):
        model.train()
        with contextlib.redirect_stdout(io.StringIO()):
            train_fn(model, optimizer, train, device, args, (_Writer(), epoch), *extra)
        if checkpoint is not None:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "rng": torch.get_rng_state(), "epoch": epoch}, checkpoint)
        model.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            correct = total = 0
            for inputs, masks, labels in dev:
                logits = forward_eval(inputs.to(device), masks.to(device))[1]
                correct += int((logits.argmax(-1).cpu() == labels).sum())
                total += len(labels)
            counts, with_padding, test_correct = RationaleCounts(), RationaleCounts(), 0
            for inputs, masks, labels, gold in test:
                z, logits = forward_eval(inputs.to(device), masks.to(device))[:2]
                z = (z[:, :, 1] > 0.5).cpu()
                counts.add(z, gold, masks)                              # real tokens only
                with_padding.add(z, gold, torch.ones_like(masks))       # padding counted, as their metric does
                test_correct += int((logits.argmax(-1).cpu() == labels).sum())
        yield {"epoch": epoch, "dev_accuracy": correct / total,
               "test": {"accuracy": test_correct / len(test.dataset), "sparsity": counts.sparsity(),
                        "precision": counts.precision(), "recall": counts.recall(), "f1": counts.f1(),
                        "f1_reference_metric": with_padding.f1(),
                        "precision_reference_metric": with_padding.precision()}}


def reference_curve(reference_dir: str | Path, cfg: RunConfig, data_dir: str, epochs: int, seed: int,
                    device: str = "cpu") -> None:
    """:func:`reference_epochs` printed as a table, with the dev-best epoch's F1 at the end."""
    best = (-1.0, 0, None)
    print("| epoch | dev accuracy | test S | test P | test R | test F1 | F1 (their metric) |\n"
          "|---|---|---|---|---|---|---|", flush=True)
    for row in reference_epochs(reference_dir, cfg, data_dir, epochs, seed, device):
        t = row["test"]
        if row["dev_accuracy"] > best[0]:
            best = (row["dev_accuracy"], row["epoch"], t["f1"])
        print(f"| {row['epoch']} | {row['dev_accuracy']:.3f} | {t['sparsity']:.3f} | {t['precision']:.3f} "
              f"| {t['recall']:.3f} | {t['f1']:.3f} | {t['f1_reference_metric']:.3f} |", flush=True)
    print(f"\nbest dev accuracy {best[0]:.3f} at epoch {best[1]}: test F1 {best[2]:.3f}")


def data_check(reference_dir: str | Path, cfg: RunConfig, data_dir: str) -> dict[str, dict[str, int]]:
    """The reference's own loaders (``BeerData`` on the file-order split written in its file
    format, ``BeerAnnotation`` on ``annotations.json``, word ids from the GloVe words in file order
    as its ``get_glove_embedding`` numbers them) against the engine's tensors, compared through the
    word vectors each side feeds its model. Per split: examples on each side, engine examples
    (vectors, mask, label) with no identical reference example, and for the test set (same order on
    both sides) rationale bits that differ. Prints the counts and returns them."""
    import gzip
    import tempfile

    import numpy as np

    from n2r.data.beer import HELDOUT_TRAIN_SHARE
    from n2r.data.base import label_from_score
    from n2r.embeddings import _packaged_glove

    import_reference(reference_dir)
    sys.path.insert(0, str(Path(reference_dir).resolve()))
    try:
        beer = importlib.import_module("beer")
    finally:
        sys.path.pop(0)
    words, matrix = _packaged_glove()
    word2idx = {w: i + 1 for i, w in enumerate(words)}
    vectors = np.concatenate([np.zeros((1, matrix.shape[1]), np.float32), np.asarray(matrix, np.float32)])
    aspect = cfg.data.options.get("aspect", 0)
    cfg.data.path = data_dir
    data = prepare_data(cfg.data, cfg.model)
    engine_vectors = data.embedding_matrix.numpy()
    with gzip.open(Path(data_dir) / f"reviews.aspect{aspect}.heldout.txt.gz", "rt", encoding="utf-8") as handle:
        lines = [line for line in handle
                 if label_from_score(float(line.split("\t")[0].split()[aspect])) is not None]
    cut = int(HELDOUT_TRAIN_SHARE * len(lines))
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        for name, part in (("train", lines[:cut]), ("heldout", lines[cut:])):
            with gzip.open(Path(tmp) / f"reviews.aspect{aspect}.{name}.txt.gz", "wt", encoding="utf-8") as out:
                out.writelines(part)
        theirs = {"train": beer.BeerData(tmp, aspect, "train", word2idx, balance=True),
                  "dev": beer.BeerData(tmp, aspect, "dev", word2idx),
                  "test": beer.BeerAnnotation(str(Path(data_dir) / "annotations.json"), aspect, word2idx)}
    report = {}
    for split, ref in theirs.items():
        ours = reference_tensors(data, split, 256)
        ref_x = vectors[ref.inputs.numpy()] * ref.masks.numpy()[..., None]
        our_x = engine_vectors[ours[0].numpy()] * ours[1].numpy()[..., None]

        def key(x, mask, label):
            return x.round(5).tobytes(), mask.astype(np.int64).tobytes(), int(label)

        keys = {key(x, m, y) for x, m, y in zip(ref_x, ref.masks.numpy(), ref.labels.numpy())}
        row = {"reference": len(ref.labels), "engine": int(ours[0].shape[0]),
               "unmatched": sum(key(x, m, y) not in keys for x, m, y in zip(our_x, ours[1].numpy(), ours[2].numpy()))}
        if split == "test":
            row["rationale_bits_differing"] = int((ref.rationales.numpy() != ours[3].numpy()).sum())
        report[split] = row
        print(split, row, flush=True)
    return report


def eval_check(reference_dir: str | Path, cfg: RunConfig, data_dir: str, seed: int = 1,
               noise_seed: int = 2000) -> dict[str, tuple[float, float]]:
    """Evaluation parity: one set of weights (the engine's initial ones, copied into the
    reference's model), the test split in the same batches, the same noise. The engine's
    :func:`n2r.engine.evaluate` against the reference's evaluation forward (``forward_predemb`` in
    eval mode, sampled masks) counted over real tokens — the reference's own metric also counts
    sampled padding as selected; that variant is reported as ``f1_reference_metric``.
    Returns ``{metric: (engine, reference)}``."""
    from n2r.engine import evaluate

    ref = import_reference(reference_dir)
    cfg.data.path = data_dir
    data = prepare_data(cfg.data, cfg.model)
    model = build_project_model(cfg, data.embedding_matrix, seed)
    reference = ref.model.Mochangmodel(reference_args(cfg, data.embedding_matrix))
    copy_weights(model, reference)
    # materialised first: creating a DataLoader iterator draws from the global RNG
    batches = list(data.loader("test", cfg.train.batch_size, shuffle=False, pad_to=cfg.train.pad_to))
    torch.manual_seed(noise_seed)
    ours = evaluate(model, batches, device=torch.device("cpu"), bf16=False, faithfulness=False)
    inputs, masks, labels, gold = reference_tensors(data, "test", cfg.train.pad_to or 256)
    reference.eval()
    torch.manual_seed(noise_seed)
    counts, with_padding, correct = RationaleCounts(), RationaleCounts(), 0
    with torch.no_grad():
        for start in range(0, len(labels), cfg.train.batch_size):
            part = slice(start, start + cfg.train.batch_size)
            z, logits, _ = reference.forward_predemb(inputs[part], masks[part])
            z = z[:, :, 1] > 0.5
            counts.add(z, gold[part], masks[part])                       # real tokens only
            with_padding.add(z, gold[part], torch.ones_like(masks[part]))  # the reference's own metric
            correct += int((logits.argmax(-1) == labels[part]).sum())
    theirs = {"accuracy": correct / len(labels), "sparsity": counts.sparsity(), "precision": counts.precision(),
              "recall": counts.recall(), "f1": counts.f1()}
    out = {k: (float(ours[k]), float(v)) for k, v in theirs.items()}
    out["f1_reference_metric"] = (math.nan, with_padding.f1())
    for k, (a, b) in out.items():
        print(f"{k}: engine {a:.6f} reference {b:.6f}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", required=True, help="folder with the authors' code (git-ignored)")
    parser.add_argument("--data-dir", help="the Beer folder (reviews.aspect0.heldout.txt.gz, annotations.json)")
    parser.add_argument("--tiny", action="store_true", help="the fixed tiny case of tests/n2r/test_parity.py")
    parser.add_argument("--objective", choices=sorted(REFERENCE_FUNCTIONS), default="n2r")
    parser.add_argument("--steps", type=int, default=200, help="batches (two updates each)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a field of the project's configuration (e.g. objective.padding_in_penalties=false)")
    parser.add_argument("--fr", type=int, choices=(0, 1), default=0,
                        help="1: FR on both sides (their --fr 1; the engine's model.shared_encoder: true)")
    parser.add_argument("--dr", type=int, choices=(0, 1), default=0,
                        help="1: DR on both sides (their --dr 1; the engine's train.predictor_lr_scale: 0.1)")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--print-every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--device", default="cpu", help="for --curve: cpu or cuda")
    parser.add_argument("--check-data", action="store_true",
                        help="instead: compare the reference's own data loaders with the engine's tensors")
    parser.add_argument("--check-eval", action="store_true",
                        help="instead: evaluate one set of weights on the test split with both codes")
    parser.add_argument("--curve", type=int, metavar="EPOCHS",
                        help="instead: train the reference code alone for EPOCHS epochs on the same data, "
                             "printing dev accuracy and test P/R/F1 per epoch (its own loop and evaluation)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.check_data:
        report = data_check(args.reference, reference_compatible(RunConfig.from_dict(json.loads(json.dumps(BEER)))),
                            args.data_dir)
        bad = {k: v for k, v in report.items() if v["unmatched"] or v.get("rationale_bits_differing")
               or v["reference"] != v["engine"]}
        raise SystemExit(f"data differ: {bad}" if bad else 0)
    if args.check_eval:
        cfg = reference_compatible(RunConfig.from_dict(json.loads(json.dumps(BEER))))
        out = eval_check(args.reference, cfg, args.data_dir, args.seed)
        differ = {k: v for k, v in out.items() if not math.isnan(v[0]) and not math.isclose(*v, rel_tol=1e-6)}
        raise SystemExit(f"evaluations differ: {differ}" if differ else 0)
    overrides = {**({"model.shared_encoder": True} if args.fr else {}),
                 **({"train.predictor_lr_scale": 0.1} if args.dr else {}), **parse_overrides(args.set)}
    if args.curve:
        raw = json.loads(json.dumps(BEER))
        raw["objective"]["name"] = args.objective
        reference_curve(args.reference, reference_compatible(RunConfig.from_dict(raw)).with_overrides(overrides),
                        args.data_dir, args.curve, args.seed, args.device)
        return
    if args.tiny:
        cfg, embedding, batches = tiny_case(args.objective)
        batches = batches * args.steps
    else:
        if not args.data_dir:
            raise SystemExit("--data-dir is required unless --tiny")
        raw = json.loads(json.dumps(BEER))
        raw["objective"]["name"] = args.objective
        raw["train"]["seed"] = args.seed
        cfg = reference_compatible(RunConfig.from_dict(raw))
        embedding, batches = beer_batches(cfg, args.data_dir, args.steps, args.batch_size, args.seed)
    if overrides:
        cfg = cfg.with_overrides(overrides)
        if not args.tiny:   # re-pad the same examples for the changed configuration
            batches = [collate_text([{"input_ids": ids[m].tolist(), "label": int(y)}
                                     for ids, m, y in zip(b.input_ids, b.attention_mask, b.labels)],
                                    pad_to=cfg.train.pad_to) for b in batches]
    rows = run(args.reference, cfg, embedding, batches, seed=args.seed)
    print(f"objective {cfg.objective.name}; {len(batches)} batches of {len(batches[0])}; "
          f"padded to {batches[0].input_ids.shape[1]}; overrides: {overrides or 'none'}")
    print_rows(rows, args.print_every if not args.tiny else 1)
    divergence = first_divergence(rows, args.tolerance)
    print(f"\nfirst divergence beyond {args.tolerance:g} (relative): {divergence or 'none'}")
    print(f"largest parameter difference after the last update: {rows[-1]['param_diff']:.3e}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
