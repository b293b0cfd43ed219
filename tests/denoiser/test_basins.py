"""Held sign patterns: the projection, random patterns with given degrees, basin training."""

import numpy as np
import pytest
import torch

from lib.core import TrainConfig
from lib.denoiser.basins import (
    HeldSignPattern,
    degree_matched_pattern,
    sign_basin_encoder,
    support_moved,
    train_in_basins,
)
from lib.denoiser.config import DenoiserConfig
from lib.denoiser.structure import (
    column_degrees,
    iid_sign_matrix,
    row_degrees,
    sign_constancy,
    sign_structure,
)


class _Holder(torch.nn.Module):
    def __init__(self, E):
        super().__init__()
        self.E = torch.nn.Parameter(E.clone())


def test_sign_basin_encoder_scalar_and_per_instance_centre():
    S = torch.tensor([[[1, 0, -1]], [[0, 1, 1]]], dtype=torch.int8)
    assert torch.equal(sign_basin_encoder(S[:1], 1.5), torch.tensor([[[1.5, 0.0, -1.5]]]))
    E = sign_basin_encoder(S, [1.0, 2.0])
    assert torch.equal(E, torch.tensor([[[1.0, 0.0, -1.0]], [[0.0, 2.0, 2.0]]]))


@pytest.mark.parametrize("inner", [None, 0.0])
def test_held_sign_pattern_projects_into_the_basin(inner):
    S = torch.tensor([[[1, 0, -1, 0]]], dtype=torch.int8)
    model = _Holder(torch.tensor([[[-0.3, 0.9, -2.0, -0.1]]]))
    with torch.no_grad():
        HeldSignPattern(S, 0.5, inner)(model)
    expected = [0.5, 0.25 if inner is None else 0.0, -2.0, -0.1 if inner is None else 0.0]
    assert torch.allclose(model.E.detach(), torch.tensor([[expected]]))
    for threshold in (0.25, 0.4, 0.49):
        assert torch.equal(sign_structure(model.E.detach(), threshold), S)


def test_held_sign_pattern_checks_its_input():
    with pytest.raises(ValueError, match="signs must be"):
        HeldSignPattern(torch.zeros(3, 4, dtype=torch.int8), 0.5)
    with pytest.raises(ValueError, match="margin"):
        HeldSignPattern(torch.zeros(2, 3, 4, dtype=torch.int8), [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="inner < margin"):
        HeldSignPattern(torch.zeros(1, 3, 4, dtype=torch.int8), 0.5, 0.5)
    with pytest.raises(ValueError, match="shape"):
        HeldSignPattern(torch.zeros(1, 3, 4, dtype=torch.int8), 0.5)(
            _Holder(torch.zeros(1, 4, 3)))


def test_degree_matched_pattern_keeps_degrees_and_rewires():
    S = iid_sign_matrix(32, 96, 0.08, generator=torch.Generator().manual_seed(0))[0]
    rng = np.random.default_rng(0)
    P = degree_matched_pattern(S, rng)
    assert torch.equal(row_degrees(P), row_degrees(S))
    assert torch.equal(column_degrees(P), column_degrees(S))
    assert bool((sign_constancy(P)["constant"] == 1))
    assert float(support_moved(S != 0, P != 0)) > 0.5  # random wiring: most edges move


def test_support_moved_counts_changes_relative_to_the_support():
    a = torch.tensor([[1, 1, 0, 0]], dtype=torch.int8)
    b = torch.tensor([[1, -1, 1, 0]], dtype=torch.int8)
    assert float(support_moved(a, b)) == pytest.approx(1.0)  # 2 changes / support 2
    assert float(support_moved(a, a)) == 0.0


def test_train_in_basins_holds_the_pattern_or_lets_it_go():
    cfg = DenoiserConfig(24, 8, 1, k=2, noise_std=0.05, loss_power=4.0)
    gen = torch.Generator().manual_seed(0)
    P = iid_sign_matrix(8, 24, 0.2, 2, generator=gen)
    tc = TrainConfig(steps=150, batch_size=64, lr=0.02, optimizer="adam", log_every=50)
    held = train_in_basins(cfg, P, 2.0, tc, decoder_steps=20, held=True, seed=1,
                           device="cpu", progress=False, eval_batches=2)
    assert held.model.E.shape == (2, 8, 24) and held.eval_loss.shape == (2,)
    assert torch.equal(sign_structure(held.model.E.detach(), 0.75), P)
    free = train_in_basins(cfg, P, 2.0, tc, decoder_steps=0, held=False, seed=1,
                           device="cpu", progress=False)
    assert not torch.equal(free.model.E.detach(), sign_basin_encoder(P, 2.0))
