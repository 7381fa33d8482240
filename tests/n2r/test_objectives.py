"""Gradient routing of each objective, freezing without leaks, and degenerate inputs."""
import copy

import pytest
import torch

from tests.helpers import objective_config
from n2r.batch import collate_text
from n2r.config import TrainConfig
from n2r.engine import NonFiniteLossError, build_optimizer, make_update, train_epoch
from n2r.objectives import OBJECTIVES, build_objective


def grads_by_step(model, objective, batch, seed=0):
    """Run one train_step, recording each update's gradients instead of stepping."""
    steps = []

    def capture(loss):
        model.zero_grad(set_to_none=True)
        loss.backward()
        steps.append({
            "generator": {n: p.grad.clone() for n, p in model.generator.named_parameters() if p.grad is not None},
            "predictor": {n: p.grad.clone() for n, p in model.predictor.named_parameters() if p.grad is not None},
        })

    torch.manual_seed(seed)
    model.train()
    objective.train_step(model, batch, capture)
    return steps


def nonzero(grads):
    return {n for n, g in grads.items() if g.abs().sum() > 0}


def trainable(module):
    return {n for n, p in module.named_parameters() if p.requires_grad}


def test_registry_names_and_unknown_name():
    assert OBJECTIVES.names() == ["n2r", "rnp", "rnp+n2r"]
    with pytest.raises(KeyError, match="unknown objective 'mmi'; known: n2r, rnp, rnp\\+n2r"):
        OBJECTIVES.get("mmi")


def test_rnp_cross_entropy_reaches_generator_and_predictor(tiny_gru, text_batch):
    obj = build_objective(objective_config("rnp", lambda_sparsity=0.0, lambda_continuity=0.0))
    (step,) = grads_by_step(tiny_gru, obj, text_batch)
    assert nonzero(step["generator"]) == trainable(tiny_gru.generator)
    assert nonzero(step["predictor"]) == trainable(tiny_gru.predictor)


def test_n2r_step1_cross_entropy_never_reaches_generator(tiny_gru, text_batch):
    obj = build_objective(objective_config("n2r", lambda_sparsity=0.0, lambda_continuity=0.0))
    step1, step2 = grads_by_step(tiny_gru, obj, text_batch)
    assert nonzero(step1["generator"]) == set()
    assert nonzero(step1["predictor"]) == trainable(tiny_gru.predictor)
    # step 2: predictor frozen (no gradient at all), generator trained by the norm term
    assert step2["predictor"] == {}
    assert nonzero(step2["generator"]) == trainable(tiny_gru.generator)


def test_n2r_step1_generator_gradient_is_exactly_the_regulariser(tiny_gru, text_batch):
    with_ce = build_objective(objective_config("n2r", ce_weight=1.0))
    without_ce = build_objective(objective_config("n2r", ce_weight=0.0))
    a = grads_by_step(tiny_gru, with_ce, text_batch, seed=3)[0]["generator"]
    b = grads_by_step(tiny_gru, without_ce, text_batch, seed=3)[0]["generator"]
    assert a.keys() == b.keys() and a
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.mark.parametrize("padded", [False, True])   # the two penalty forms (their defaults differ)
def test_rnp_plus_n2r_step1_is_the_full_rnp_update(tiny_gru, text_batch, padded):
    combo = build_objective(objective_config("rnp+n2r", padding_in_penalties=padded))
    rnp = build_objective(objective_config("rnp", padding_in_penalties=padded))
    step1, step2 = grads_by_step(tiny_gru, combo, text_batch, seed=5)
    (ref,) = grads_by_step(tiny_gru, rnp, text_batch, seed=5)
    for part in ("generator", "predictor"):
        assert step1[part].keys() == ref[part].keys()
        for name in ref[part]:
            assert torch.equal(step1[part][name], ref[part][name])
    assert step2["predictor"] == {}


@pytest.mark.parametrize("name", ["n2r", "rnp+n2r"])
def test_step2_changes_no_predictor_parameter_despite_momentum(tiny_gru, text_batch, name):
    model = tiny_gru
    obj = build_objective(objective_config(name))
    opt = build_optimizer(model, TrainConfig(lr=0.05, weight_decay=0.01))
    update = make_update(model, opt)
    model.train()
    for _ in range(3):  # build up Adam moments for every parameter
        obj.train_step(model, text_batch, update)
    pred_before = copy.deepcopy(model.predictor.state_dict())
    gen_before = copy.deepcopy(model.generator.state_dict())
    obj._norm_step(model, text_batch, update, prefix="step2")
    for key, value in model.predictor.state_dict().items():
        assert torch.equal(value, pred_before[key]), f"predictor {key} moved in step 2"
    moved = [k for k, v in model.generator.state_dict().items() if not torch.equal(v, gen_before[k])]
    assert "head.weight" in moved
    assert all(p.requires_grad for n, p in model.predictor.named_parameters() if "embedding" not in n)


def test_objectives_survive_an_all_zero_selection(tiny_gru, text_batch):
    with torch.no_grad():
        tiny_gru.generator.head.bias.copy_(torch.tensor([50.0, -50.0]))  # never select
    for name in OBJECTIVES.names():
        obj = build_objective(objective_config(name))
        opt = build_optimizer(tiny_gru, TrainConfig(lr=1e-3))
        logs = obj.train_step(tiny_gru, text_batch, make_update(tiny_gru, opt))
        assert all(torch.isfinite(v) for v in logs.values()), (name, logs)
        assert all(torch.isfinite(p).all() for p in tiny_gru.parameters())


@pytest.mark.parametrize("examples", [
    [{"input_ids": [4], "label": 1}],                                  # batch of one, length one
    [{"input_ids": [4], "label": 0}, {"input_ids": [5, 6, 7], "label": 1}],
])
def test_objectives_on_degenerate_batches(tiny_gru, examples):
    batch = collate_text(examples)
    for name in OBJECTIVES.names():
        obj = build_objective(objective_config(name))
        opt = build_optimizer(tiny_gru, TrainConfig(lr=1e-3))
        logs = obj.train_step(tiny_gru, batch, make_update(tiny_gru, opt))
        assert all(torch.isfinite(v) for v in logs.values()), (name, logs)


def test_non_finite_loss_stops_the_run_naming_the_step(tiny_gru, text_batch):
    obj = build_objective(objective_config("n2r"))
    opt = build_optimizer(tiny_gru, TrainConfig())
    with torch.no_grad():
        tiny_gru.predictor.classifier.weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match=r"non-finite step1/loss .* at epoch 4, batch 0"):
        train_epoch(tiny_gru, obj, [text_batch, text_batch], make_update(tiny_gru, opt),
                    device=torch.device("cpu"), epoch=4, check_every=5)


# --------------------------------------------------------------------------- FR and DR
@pytest.fixture
def folded_gru():
    """FR (Folded Rationalization): one BiGRU shared by the generator and the predictor."""
    from n2r.config import ModelConfig
    from n2r.models import build_rationalizer

    torch.manual_seed(0)
    return build_rationalizer(ModelConfig(hidden_size=6, dropout=0.0, shared_encoder=True),
                              embedding_matrix=torch.randn(30, 8))


def encoder_names(grads):
    return {n for n in nonzero(grads) if n.startswith("encoder.")}


@pytest.mark.parametrize("name", ["rnp", "n2r", "rnp+n2r"])
def test_fr_the_predictors_loss_moves_the_shared_encoder(folded_gru, text_batch, name):
    """Step 1 with the mask detached from the generator (N2R) still trains the shared encoder
    through the predictor's CE; step 2 freezes the predictor and so the shared encoder with it,
    as the reference's ``--fr 1`` does (``model.cls is model.gen`` is frozen in its step 2)."""
    assert folded_gru.generator.encoder is folded_gru.predictor.encoder
    obj = build_objective(objective_config(name, lambda_sparsity=0.0, lambda_continuity=0.0))
    steps = grads_by_step(folded_gru, obj, text_batch, seed=2)
    shared = {n for n, _ in folded_gru.predictor.encoder.named_parameters()}
    assert encoder_names(steps[0]["predictor"]) == {f"encoder.{n}" for n in shared}
    if name != "rnp":
        assert steps[1]["predictor"] == {}
        assert encoder_names(steps[1]["generator"]) == set()
        assert nonzero(steps[1]["generator"]) == {"norm.weight", "norm.bias", "head.weight", "head.bias"}


def test_dr_the_predictors_adam_step_is_a_tenth_of_the_generators(tiny_gru, text_batch):
    """Adam's first step moves every element with a gradient by lr·g/(|g|+ε) ≈ lr: with
    ``predictor_lr_scale`` 0.1 the predictor's largest move is a tenth of the generator's."""
    def largest_moves(scale):
        model = copy.deepcopy(tiny_gru)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        opt = build_optimizer(model, TrainConfig(lr=1e-2, predictor_lr_scale=scale))
        torch.manual_seed(4)
        model.train()
        build_objective(objective_config("rnp")).train_step(model, text_batch, make_update(model, opt))
        moved = {n: float((p.detach() - before[n]).abs().max()) for n, p in model.named_parameters()}
        return (max(v for n, v in moved.items() if n.startswith("generator.")),
                max(v for n, v in moved.items() if n.startswith("predictor.")))

    generator, predictor = largest_moves(0.1)
    assert generator == pytest.approx(1e-2, rel=1e-3)
    assert predictor == pytest.approx(1e-3, rel=1e-3)
    assert largest_moves(1.0) == pytest.approx((1e-2, 1e-2), rel=1e-3)


def test_fr_with_dr_slows_only_the_predictors_own_parameters(folded_gru):
    opt = build_optimizer(folded_gru, TrainConfig(lr=1e-2, predictor_lr_scale=0.1))
    rate = {id(p): group["lr"] for group in opt.param_groups for p in group["params"]}
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(folded_gru.parameters())) - 1  # no frozen embedding
    for p in folded_gru.predictor.encoder.parameters():
        assert rate[id(p)] == 1e-2                       # the shared encoder is the generator's
    for p in folded_gru.predictor.classifier.parameters():
        assert rate[id(p)] == pytest.approx(1e-3)
