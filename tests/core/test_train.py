"""The trainer: instance independence, schedules, NaN detection, checkpoint/resume."""

import numpy as np
import pytest
import torch

from lib.core.fit import fit
from lib.core.losses import ImportanceWeightedMSE
from lib.core.restarts import best_per_group
from lib.core.sampling import SparseUniform
from lib.core.training import TrainConfig, evaluate, lr_lambda, train
from lib.tms.config import ToyModelConfig
from lib.tms.model import ToyModel
from tests.replay import Replay


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_instance_trained_in_a_batch_equals_instance_trained_alone(optimizer):
    I, n, m, steps = 5, 8, 3, 60
    p = np.linspace(0.05, 1.0, I)[:, None].repeat(n, 1)
    importance = 0.8 ** np.arange(n)
    data = SparseUniform(p, seed=11)
    batches = [data(32) for _ in range(steps)]
    cfg = TrainConfig(
        steps=steps,
        batch_size=32,
        lr=1e-2,
        optimizer=optimizer,
        schedule="warmup_cosine",
        warmup_steps=10,
        log_every=20,
    )
    together = ToyModel(n, m, I, seed=4)
    train(
        together,
        Replay(batches),
        ImportanceWeightedMSE(np.tile(importance, (I, 1))),
        cfg,
        device="cpu",
        progress=False,
    )
    for k in (0, 3):
        alone = ToyModel(n, m, 1, seed=4, instance_ids=[k])
        hist = train(
            alone,
            Replay(batches, instance=k),
            ImportanceWeightedMSE(importance[None]),
            cfg,
            device="cpu",
            progress=False,
        )
        assert hist.loss.shape == (3, 1)
        assert torch.allclose(alone.W[0], together.W[k], atol=1e-6)
        assert torch.allclose(alone.b[0], together.b[k], atol=1e-6)


def test_training_reduces_loss_and_records_history():
    cfg = ToyModelConfig(
        5, 2, 3, feature_probability=[1.0, 0.3, 0.05], importance=0.9 ** np.arange(5)
    )
    run = fit(
        cfg,
        TrainConfig(steps=300, batch_size=256, lr=1e-2, log_every=50),
        seed=0,
        device="cpu",
        progress=False,
        eval_batches=2,
        snapshot_steps=[0, 100, 300],
    )
    hist, ev = run.history, run.eval_loss
    assert sorted(hist.snapshots) == [0, 100, 300] and hist.snapshots[300][
        "W"
    ].shape == (3, 5, 2)
    assert torch.equal(hist.snapshots[300]["W"], run.model.W.detach())
    assert hist.step.tolist() == [50, 100, 150, 200, 250, 300]
    assert hist.loss.shape == (6, 3) and ev.shape == (3,)
    assert np.all(hist.loss[-1] < hist.loss[0])


def test_lr_schedules():
    def curve(**kw):
        f = lr_lambda(TrainConfig(steps=100, **kw))
        return np.array([f(t) for t in range(100)])

    assert np.all(curve(schedule="constant") == 1)
    cos = curve(schedule="cosine")
    assert cos[0] == 1 and cos[-1] < 0.01 and np.all(np.diff(cos) <= 0)
    warm = curve(schedule="warmup", warmup_steps=10)
    assert warm[0] == pytest.approx(0.1) and np.all(warm[9:] == 1)
    wc = curve(schedule="warmup_cosine", warmup_steps=10)
    assert wc[0] == pytest.approx(0.1) and wc[9] == 1 and wc[-1] < 0.01


def test_nan_loss_raises_a_clear_error():
    model = ToyModel(4, 2, 2)
    bad = lambda b: torch.full((b, 2, 4), float("nan"))  # noqa: E731
    with pytest.raises(FloatingPointError, match="instance"):
        train(
            model,
            bad,
            ImportanceWeightedMSE(np.ones((2, 4))),
            TrainConfig(steps=5, log_every=1),
            device="cpu",
            progress=False,
        )


def test_sampler_on_wrong_device_is_caught():
    model = ToyModel(4, 2, 1)
    on_meta = lambda b: torch.empty((b, 1, 4), device="meta")  # noqa: E731  (any non-model device)
    with pytest.raises(ValueError, match="sampler"):
        train(
            model,
            on_meta,
            ImportanceWeightedMSE(np.ones((1, 4))),
            TrainConfig(steps=2),
            device="cpu",
            progress=False,
        )


class Crash(Exception):
    pass


def test_resume_after_crash_gives_the_uninterrupted_result(tmp_path):
    p, imp = np.full((2, 6), 0.2), np.ones((2, 6))
    cfg = TrainConfig(
        steps=120, batch_size=64, lr=5e-3, log_every=10, schedule="cosine"
    )
    reference = ToyModel(6, 2, 2, seed=1)
    ref_hist = train(
        reference,
        SparseUniform(p, seed=5),
        ImportanceWeightedMSE(imp),
        cfg,
        device="cpu",
        progress=False,
    )

    ckpt_cfg = TrainConfig(
        steps=120,
        batch_size=64,
        lr=5e-3,
        log_every=10,
        schedule="cosine",
        checkpoint_path=str(tmp_path / "run.pt"),
        checkpoint_every=50,
    )

    class CrashingSampler(SparseUniform):
        calls = 0

        def __call__(self, b):
            self.calls += 1
            if self.calls > 75:  # dies between the checkpoints at steps 50 and 100
                raise Crash
            return super().__call__(b)

    with pytest.raises(Crash):
        train(
            ToyModel(6, 2, 2, seed=1),
            CrashingSampler(p, seed=5),
            ImportanceWeightedMSE(imp),
            ckpt_cfg,
            device="cpu",
            progress=False,
        )
    resumed = ToyModel(
        6, 2, 2, seed=99
    )  # weights come from the checkpoint, not the init
    hist = train(
        resumed,
        SparseUniform(p, seed=123),
        ImportanceWeightedMSE(imp),
        ckpt_cfg,
        device="cpu",
        progress=False,
    )
    assert torch.allclose(resumed.W, reference.W, atol=1e-6)
    assert np.allclose(hist.loss, ref_hist.loss, atol=1e-6)
    assert hist.step.tolist() == ref_hist.step.tolist()


def test_evaluate_and_best_per_group():
    model = ToyModel(4, 2, 3)
    ev = evaluate(
        model,
        SparseUniform(np.full((3, 4), 0.5)),
        ImportanceWeightedMSE(np.ones((3, 4))),
        batch_size=128,
        n_batches=2,
    )
    assert ev.shape == (3,) and np.all(ev > 0)
    loss = np.array([3.0, 1.0, 2.0, 0.5, 0.7, 9.0])
    groups = np.array([0, 0, 0, 1, 1, 1])
    assert best_per_group(loss, groups).tolist() == [1, 3]
