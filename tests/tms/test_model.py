"""Model shapes, the forward pass, and per-instance initialisation."""

import math

import torch

from lib.tms.model import ToyModel


def test_shapes_and_forward_matches_formula():
    model = ToyModel(7, 3, 4, seed=0)
    assert model.W.shape == (4, 7, 3) and model.b.shape == (4, 7)
    x = torch.rand(5, 4, 7)
    with torch.no_grad():
        model.b.normal_()
        out = model(x)
        k = 2
        expected = torch.relu(x[:, k] @ model.W[k] @ model.W[k].T + model.b[k])
    assert out.shape == (5, 4, 7)
    assert torch.allclose(out[:, k], expected, atol=1e-6)


def test_linear_model_has_no_relu():
    model = ToyModel(4, 2, 1, activation="linear")
    with torch.no_grad():
        model.b.fill_(-10.0)
    assert (model(torch.zeros(1, 1, 4)) < 0).all()


def test_init_does_not_depend_on_instance_count():
    big = ToyModel(10, 4, 8, seed=3)
    alone = ToyModel(10, 4, 1, seed=3, instance_ids=[5])
    assert torch.equal(big.W[5], alone.W[0])
    assert not torch.equal(big.W[0], big.W[1])


def test_default_init_scale_gives_unit_frobenius_norm_on_average():
    for n, m in [(200, 20), (20, 5), (5, 2)]:
        model = ToyModel(n, m, 200, seed=0)
        assert abs(model.W.detach().std().item() - math.sqrt(1 / (n * m))) < 0.05 / math.sqrt(n * m)
        frobenius2 = model.W.detach().pow(2).sum(dim=(1, 2))
        assert abs(frobenius2.mean().item() - 1) < 0.05
    assert torch.allclose(ToyModel(4, 2, 3, init_std=0.5, seed=0).W.std(), torch.tensor(0.5), atol=0.2)
