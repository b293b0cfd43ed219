"""train() with optimizer="signed_adamw" and with a loss's hand-written gradient."""

import math

import numpy as np
import pytest
import torch

from lib.core.optim import SignedAdamW
from lib.core.sampling import SparseUniform
from lib.core.training import TrainConfig, lr_lambda, train
from lib.tms.model import ToyModel
from tests.replay import Replay


class MSE:
    def __call__(self, output, target):
        return (output - target).pow(2).mean(dim=(0, 2))


def signed_config(**kw):
    base = dict(steps=40, batch_size=16, lr=1e-2, optimizer="signed_adamw",
                weight_decay=(-1.0, 0.0, 0.5), decay_parameters=("W",),
                schedule="warmup_cosine", warmup_steps=5, final_lr_ratio=0.05, log_every=10,
                fused=False)
    base.update(kw)
    return TrainConfig(**base)


def test_train_with_signed_adamw_equals_the_written_out_loop():
    I, n, m = 3, 10, 4
    p = np.full((I, n), 0.2)
    data = SparseUniform(p, seed=3)
    xs = [data(16) for _ in range(40)]
    cfg = signed_config()
    model = ToyModel(n, m, I, seed=1)
    ref = ToyModel(n, m, I, seed=1)
    train(model, Replay(xs), MSE(), cfg, device="cpu", progress=False)
    opt = SignedAdamW([{"params": [ref.W], "weight_decay": torch.tensor([-1.0, 0.0, 0.5])},
                       {"params": [ref.b], "weight_decay": 0.0}], lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    for x in xs:
        opt.zero_grad()
        MSE()(ref(x), x).sum().backward()
        opt.step()
        sched.step()
    torch.testing.assert_close(model.W, ref.W)
    torch.testing.assert_close(model.b, ref.b)


def test_final_lr_ratio_schedule():
    cfg = signed_config(steps=100, warmup_steps=10)
    f = lr_lambda(cfg)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(99) == pytest.approx(0.05, abs=1e-3)
    assert f(55) == pytest.approx(0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * 45 / 90)))
    plain = TrainConfig(steps=100, schedule="warmup_cosine", warmup_steps=10)
    g = lr_lambda(plain)
    assert all(g(t) == 0.5 * (1 + math.cos(math.pi * min(1.0, (t - 10) / 90)))
               for t in range(10, 100))  # unchanged when final_lr_ratio = 0


def test_only_named_parameters_decay():
    model = ToyModel(6, 3, 2, seed=0)
    with torch.no_grad():
        model.b.fill_(0.7)
    W0 = model.W.detach().clone()
    zero = Replay([torch.zeros(4, 2, 6)] * 3)  # zero input: the gradient of W is 0

    class NoGrad:  # loss with zero gradient everywhere
        def __call__(self, output, target):
            return (output * 0).sum(dim=(0, 2))

    cfg = TrainConfig(steps=3, batch_size=4, lr=0.1, optimizer="signed_adamw",
                      weight_decay=0.5, decay_parameters=("W",), fused=False)
    train(model, zero, NoGrad(), cfg, device="cpu", progress=False)
    torch.testing.assert_close(model.W, W0 * 0.95**3)
    assert torch.all(model.b == 0.7)


class CountingMSE(MSE):
    """An MSE whose hand-written gradient is autograd's, counting its calls."""

    def __init__(self):
        self.calls = 0

    def fused_gradients(self, model, x, y):
        self.calls += 1
        loss = self(model(x), y)
        loss.sum().backward()
        return loss.detach()


@pytest.mark.parametrize("fused, used", [("auto", True), (True, True), (False, False)])
def test_fused_gradients_used_as_configured(fused, used):
    model = ToyModel(6, 3, 2, seed=0)
    loss = CountingMSE()
    cfg = TrainConfig(steps=5, batch_size=8, lr=1e-2, log_every=5, fused=fused)
    hist = train(model, SparseUniform(np.full((2, 6), 0.3), seed=0), loss, cfg, device="cpu",
                 progress=False)
    assert (loss.calls == 5) == used and hist.fused == used


def test_fused_true_needs_a_loss_that_has_one():
    cfg = TrainConfig(steps=2, batch_size=4, fused=True)
    with pytest.raises(ValueError, match="fused_gradients"):
        train(ToyModel(4, 2, 1), SparseUniform(np.full((1, 4), 0.5)), MSE(), cfg, device="cpu",
              progress=False)


def test_decay_parameters_must_exist():
    cfg = TrainConfig(steps=2, batch_size=4, optimizer="signed_adamw", decay_parameters=("V",))
    with pytest.raises(ValueError, match="decay_parameters"):
        train(ToyModel(4, 2, 1), SparseUniform(np.full((1, 4), 0.5)), MSE(), cfg, device="cpu",
              progress=False)


@pytest.mark.parametrize("kwargs, word", [
    (dict(optimizer="adamw", weight_decay=-0.1), "weight_decay"),
    (dict(optimizer="adamw", weight_decay=(0.1, 0.2)), "weight_decay"),
    (dict(optimizer="signed_adamw", weight_decay=float("nan")), "weight_decay"),
    (dict(optimizer="signed_adamw", weight_decay=[[0.1]]), "weight_decay"),
    (dict(optimizer="signed_adamw", weight_decay=[]), "weight_decay"),
    (dict(optimizer="signed_adamw", weight_decay="0.1"), "weight_decay"),
    (dict(optimizer="adamw", decay_parameters=("W",)), "decay_parameters"),
    (dict(optimizer="signed_adamw", decay_parameters=("",)), "decay_parameters"),
    (dict(optimizer="signed_adamw", growth="exp"), "growth"),
    (dict(final_lr_ratio=1.5), "final_lr_ratio"),
    (dict(fused="yes"), "fused"),
])
def test_train_config_rejects_bad_values(kwargs, word):
    with pytest.raises(ValueError, match=word):
        TrainConfig(**kwargs)


def test_signed_decay_values_are_stored_as_floats():
    assert TrainConfig(optimizer="signed_adamw", weight_decay=-1).weight_decay == -1.0
    cfg = TrainConfig(optimizer="signed_adamw", weight_decay=np.array([-1, 0.5]),
                      decay_parameters="W")
    assert cfg.weight_decay == (-1.0, 0.5) and cfg.decay_parameters == ("W",)
