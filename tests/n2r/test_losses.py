"""Loss terms on hand-computed inputs."""
import math

import pytest
import torch

from n2r.objectives import continuity_loss, norm_loss, sparsity_loss

Z = torch.tensor([[1.0, 0.0, 1.0, 1.0, 0.0],
                  [0.0, 1.0, 0.0, 0.0, 0.0]])
M = torch.tensor([[1, 1, 1, 1, 0],
                  [1, 1, 0, 0, 0]], dtype=torch.bool)


def test_sparsity_counts_real_units_over_the_whole_batch():
    # selected real units 3 + 1 = 4 of 6 real units; |4/6 - 0.5| = 1/6
    assert sparsity_loss(Z, M, 0.5).item() == pytest.approx(1 / 6)


def test_sparsity_ignores_padding_even_if_selected():
    z = Z.clone()
    z[0, 4] = 1.0  # a padded position "selected" must not count
    assert sparsity_loss(z, M, 0.5).item() == pytest.approx(1 / 6)


def test_continuity_over_adjacent_real_pairs_only():
    # row 0 pairs (1,0) (0,1) (1,1): |diff| 1,1,0; the pair (1,pad) is excluded
    # row 1 pair (0,1): 1 → (1+1+0+1)/4 = 0.75
    assert continuity_loss(Z, M).item() == pytest.approx(0.75)


def test_continuity_of_length_one_inputs_is_zero_not_nan():
    z = torch.tensor([[1.0], [0.0]])
    m = torch.ones(2, 1, dtype=torch.bool)
    assert continuity_loss(z, m).item() == 0.0
    z2 = torch.tensor([[1.0, 0.0]])
    m2 = torch.tensor([[1, 0]], dtype=torch.bool)
    assert continuity_loss(z2, m2).item() == 0.0


def test_norm_loss_log_and_plain_forms():
    h = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    eps = 1e-6
    assert norm_loss(h, "log", eps).item() == pytest.approx(-(math.log(5 + eps) + math.log(eps)) / 2)
    assert norm_loss(h, "plain").item() == pytest.approx(-2.5)
    with pytest.raises(ValueError, match="norm_form"):
        norm_loss(h, "reciprocal")


def test_norm_loss_gradient_at_zero_representation_is_finite():
    h = torch.zeros(3, 4, requires_grad=True)
    norm_loss(h, "log").backward()
    assert torch.isfinite(h.grad).all()
    h2 = torch.tensor([[3.0, 4.0]], requires_grad=True)
    norm_loss(h2, "log", eps=0.0).backward()
    # d/dh -log||h|| = -h/||h||^2
    assert torch.allclose(h2.grad, -torch.tensor([[3.0, 4.0]]) / 25)


def test_continuity_with_a_window_prices_each_transition_per_input():
    # 3 transitions over real pairs (row 0: 1, 1, 0; row 1: 1), priced against 2 inputs × (W − 1) pairs
    assert continuity_loss(Z, M, window=6).item() == pytest.approx(3 / (2 * 5))


def test_continuity_with_a_window_ignores_padding_and_grouping():
    """One more transition in one input costs the same whatever the batch's padding and partners:
    the windowed Ω_c of a batch is the mean of its inputs' own, each computed alone."""
    torch.manual_seed(0)
    lengths = [3, 9, 17]
    zs = [torch.randint(0, 2, (n,)).float() for n in lengths]
    alone = [continuity_loss(z.unsqueeze(0), torch.ones(1, len(z), dtype=torch.bool), window=32) for z in zs]
    for width in (17, 32):
        batch = torch.zeros(3, width)
        mask = torch.zeros(3, width, dtype=torch.bool)
        for i, z in enumerate(zs):
            batch[i, :len(z)], mask[i, :len(z)] = z, True
        batch[0, 5] = 1.0                                   # a padding position: never a neighbour
        together = continuity_loss(batch, mask, window=32)
        assert together.item() == pytest.approx(sum(a.item() for a in alone) / 3)


def test_a_continuity_window_with_padded_penalties_is_refused_not_ignored():
    """Refused by the configuration itself, so a sweep space that could combine the two is
    refused before Ray starts (``pipelines.spec``), not inside a trial."""
    from n2r.config import ConfigError, RunConfig

    with pytest.raises(ConfigError, match=r"^run.yaml: objective: continuity_window .* objective\.padding_in_penalties: false"):
        RunConfig.from_dict({"objective": {"name": "n2r", "continuity_window": 256}}, source="run.yaml")
    rnp = RunConfig.from_dict({"objective": {"name": "rnp", "continuity_window": 256}})
    with pytest.raises(ConfigError, match="continuity_window"):
        rnp.with_overrides({"objective.name": "n2r"})
    RunConfig.from_dict({"objective": {"name": "n2r", "continuity_window": 256, "padding_in_penalties": False}})
