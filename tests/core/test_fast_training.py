"""The trainer's speed-ups change nothing that is computed: compile, fused optimiser, fallbacks."""

import warnings

import numpy as np
import pytest
import torch

from lib.core import training as train_module
from lib.core.losses import ImportanceWeightedMSE
from lib.core.sampling import SparseUniform
from lib.core.training import TrainConfig, make_optimizer, should_compile, train
from lib.tms.model import ToyModel


def run(n, m, compile, steps=40, seed=0):
    I = 3
    model = ToyModel(n, m, I, seed=seed)
    p = np.linspace(0.1, 1.0, I)[:, None].repeat(n, 1)
    cfg = TrainConfig(
        steps=steps,
        batch_size=128,
        lr=1e-2,
        log_every=10,
        schedule="warmup_cosine",
        warmup_steps=5,
        compile=compile,
    )
    hist = train(
        model,
        SparseUniform(p, seed=seed),
        ImportanceWeightedMSE(0.9 ** np.arange(n)),
        cfg,
        device="cpu",
        progress=False,
    )
    return model, hist


@pytest.mark.parametrize(
    "n, m", [(6, 3), (2, 1)]
)  # (2, 1) takes the broadcast path of tiny models
def test_compiled_and_eager_training_agree(n, m):
    eager_model, eager = run(n, m, compile=False)
    compiled_model, compiled = run(n, m, compile=True)
    assert compiled.compiled and not eager.compiled
    # same data, same init, same optimiser: only float rounding may differ (fused kernels)
    assert np.allclose(compiled.loss, eager.loss, rtol=1e-4, atol=1e-7)
    assert torch.allclose(compiled_model.W, eager_model.W, rtol=1e-4, atol=1e-5)
    assert torch.allclose(compiled_model.b, eager_model.b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_fused_optimizer_step_equals_the_per_tensor_loop(optimizer):
    torch.manual_seed(0)
    params = [
        torch.randn(4, 7, 3, requires_grad=True),
        torch.randn(4, 7, requires_grad=True),
    ]
    plain = [p.detach().clone().requires_grad_() for p in params]
    cfg = TrainConfig(lr=1e-2, optimizer=optimizer, weight_decay=0.05)
    fused = make_optimizer(params, cfg)
    assert fused.defaults["fused"]
    loop = (
        torch.optim.Adam(plain, lr=1e-2, foreach=False)
        if optimizer == "adam"
        else torch.optim.AdamW(plain, lr=1e-2, weight_decay=0.05, foreach=False)
    )
    for _ in range(20):
        grads = [torch.randn_like(p) for p in params]
        for group, opt in ((params, fused), (plain, loop)):
            for p, g in zip(group, grads):
                p.grad = g.clone()
            opt.step()
    for a, b in zip(params, plain):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_failing_compiler_falls_back_to_eager(monkeypatch):
    def broken(fn, device):
        def raise_at_first_call(*args):
            raise RuntimeError("no C++ compiler")

        return raise_at_first_call

    monkeypatch.setattr(train_module, "compiled", broken)
    _, reference = run(4, 2, compile=False, steps=20)
    with pytest.warns(UserWarning, match="training eagerly"):
        _, hist = run(4, 2, compile=True, steps=20)
    assert not hist.compiled
    assert np.array_equal(hist.loss, reference.loss)


def test_errors_after_the_first_step_are_not_swallowed():
    model = ToyModel(4, 2, 2)
    calls = {"n": 0}

    def sampler(b):
        calls["n"] += 1
        return (
            torch.full((b, 2, 4), float("nan"))
            if calls["n"] > 3
            else torch.rand(b, 2, 4)
        )

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "training eagerly" fallback either
        with pytest.raises(FloatingPointError):
            train(
                model,
                sampler,
                ImportanceWeightedMSE(np.ones((2, 4))),
                TrainConfig(steps=10, log_every=5, compile=False),
                device="cpu",
                progress=False,
            )


def test_compile_auto_means_cuda_only():
    cpu = torch.device("cpu")
    small = TrainConfig(steps=1000)
    assert not should_compile(small, 1000, cpu)
    assert not should_compile(
        TrainConfig(steps=10_000), 1024 * 20 * 200, cpu
    )  # opt-in on the CPU
    assert should_compile(TrainConfig(steps=10), 1, torch.device("cuda"))
    assert should_compile(TrainConfig(steps=10, compile=True), 1, cpu)
    assert not should_compile(TrainConfig(steps=10**6, compile=False), 10**6, cpu)


@pytest.mark.parametrize("bad", [{"compile": "yes"}, {"precision": "fp16"}])
def test_bad_speed_options_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        TrainConfig(**bad)
