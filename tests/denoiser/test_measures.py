"""lib.denoiser.measures and lib.denoiser.regime on planted models and histories with a
known answer."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lib.denoiser import DenoiserConfig, measures, regime
from lib.denoiser.model import tanh_cubed


def planted_identity(d=6, c=3.0, instances=2):
    """A perfect denoiser: neuron j reads feature j with weight c, writes 1 / φ(c) back."""
    config = DenoiserConfig(d, d, instances, k=2, noise_std=0.02)
    model = config.build_model()
    with torch.no_grad():
        model.E.copy_(c * torch.eye(d).expand(instances, d, d))
        model.D.copy_(torch.eye(d).expand(instances, d, d) / tanh_cubed(torch.tensor(c)))
    return config, model


def test_recall_and_served_features_of_a_perfect_and_a_silent_denoiser():
    config, model = planted_identity()
    assert np.allclose(measures.recall(model, config, n=512), 1.0)
    assert (measures.served_features(model) == config.n_features).all()
    with torch.no_grad():
        model.D[1].zero_()  # instance 1 is silent
    assert measures.recall(model, config, n=512)[1] == 0
    assert measures.served_features(model).tolist() == [config.n_features, 0]
    groups = measures.outputs_by_group(model, config, n=64)
    assert groups["on"].numel() == 64 * 2 * config.k  # k on-coordinates per input


def test_window_mean_and_plateau_drop_on_a_planted_history():
    step = np.arange(100, 2001, 100)
    flat = np.ones_like(step, dtype=float)
    falling = 1.0 - step / 4000  # 25 % lower at step 1000 than at 0
    history = SimpleNamespace(step=step, loss=np.stack([flat, falling], axis=1))
    assert np.allclose(measures.window_mean(history, 1000, 200), [1.0, 1 - 950 / 4000])
    drop = measures.plateau_drop(history, 2000, 1000)
    assert drop[0] == pytest.approx(0.0)
    assert drop[1] > 0.05  # still falling
    with pytest.raises(ValueError, match="no logged step"):
        measures.window_mean(history, 50, 20)


def test_cluster_trace_follows_a_planted_sign_matrix():
    _, model = planted_identity(d=8, c=2.0)
    noise = torch.randn(2, 8, 8, generator=torch.Generator().manual_seed(0))
    snaps = {0: 0.3 * noise, 100: model.E.detach() + 0.01 * noise}
    trace = measures.cluster_trace(snaps)
    assert trace["step"].tolist() == [0, 100]
    assert trace["centre"].shape == (2, 2)
    assert np.allclose(trace["centre"][1], 2.0, atol=0.05)
    assert np.allclose(trace["neurons_per_feature"][1], 1.0)
    assert np.allclose(trace["density"][1], 1 / 8)


def test_regime_cells_names_configs_and_costs():
    names = [c["name"] for c in regime.CELLS]
    assert len(names) == len(set(names))
    assert "loss-p4-e0.3" in names and "loss-p2-edefault" in names
    cell = next(c for c in regime.CELLS if c["name"] == "loss-p4-e0.3")
    config, train = regime.cell_configs(cell, n_instances=2)
    assert (config.n_features, config.n_hidden, config.loss_power) == (192, 64, 4.0)
    assert config.encoder_init_std == 0.3 and train.steps == regime.BASE_TRAIN["steps"]
    assert train.decay_steps == int(train.steps * regime.BASE_TRAIN["decay_fraction"])
    size = next(c for c in regime.CELLS if c["name"] == "size-d384-b256")
    assert regime.cell_configs(size, 1)[0].n_hidden == 128  # d / h = 3 kept
    assert regime.cost_estimate(cell, 2) == pytest.approx(
        10 * 256 * 192 * 64 * 2 * train.steps / 1e9)


def test_run_cell_records_one_line_per_instance(tmp_path):
    cell = {"panel": "loss", "loss_power": 4.0, "encoder_init_std": 0.3, "name": "t"}
    records = regime.run_cell(cell, n_instances=2, steps=4, n_null=5)
    assert [r["instance"] for r in records] == [0, 1]
    for key in ("col_deg_mean", "ambiguous", "centre", "loss", "cpu_seconds"):
        assert all(np.isfinite(r[key]) for r in records)
    path = tmp_path / "map.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert regime.load(path)[1]["instance"] == 1
