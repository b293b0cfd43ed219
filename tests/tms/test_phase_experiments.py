"""Chapter 2 glue: phase classification, restart aggregation, grid configs, figures."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from lib.core.restarts import all_but_worst_per_group
from lib.tms import measures
from lib.tms.config import phase_grid_config
from lib.tms.measures import feature_phase
from lib.tms.plots import plot_loss_surface, plot_phase_diagram


def test_feature_phase_codes_and_symmetries():
    W = torch.tensor(
        [
            [[1.0], [0.0]],  # extra not learned
            [[1.0], [-1.0]],  # antipodal: superposed
            [[0.0], [1.0]],  # extra dedicated
            [[0.1], [1.0]],  # tiny interference (0.01 < 0.1): dedicated
        ]
    )
    assert feature_phase(W).tolist() == [
        measures.NOT_LEARNED,
        measures.SUPERPOSED,
        measures.DEDICATED,
        measures.DEDICATED,
    ]
    assert feature_phase(-W).tolist() == feature_phase(W).tolist()
    # m = 2: a rotation of the hidden plane changes nothing
    W3 = torch.tensor([[[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]])
    c, s = np.cos(0.7), np.sin(0.7)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float32)
    assert (
        feature_phase(W3 @ rot).item() == feature_phase(W3).item() == measures.DEDICATED
    )
    assert feature_phase(W3, feature=0).item() == measures.SUPERPOSED


def test_all_but_worst_per_group():
    loss = np.array([0.3, 0.1, 0.2, 5.0, 1.0, 7.0])
    groups = np.array([0, 0, 0, 1, 1, 2])
    assert all_but_worst_per_group(loss, groups).tolist() == [1, 2, 4, 5]
    with pytest.raises(ValueError):
        all_but_worst_per_group(loss, groups[:-1])


def test_phase_grid_config_layout():
    r, s = [0.1, 1.0, 10.0], [0.01, 1.0]
    config, group = phase_grid_config(3, 2, r, s, restarts=2)
    assert config.n_instances == 12 and group.tolist() == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
        5,
        5,
    ]
    imp, p = config.importance_matrix, config.feature_probability_matrix
    np.testing.assert_allclose(imp[:, :2], 1.0)
    np.testing.assert_allclose(imp[:, 2], np.repeat([0.1, 0.1, 1, 1, 10, 10], 2))
    np.testing.assert_allclose(p[:, 0], np.tile(np.repeat([0.01, 1.0], 2), 3))
    with pytest.raises(ValueError, match="restarts"):
        phase_grid_config(2, 1, r, s, restarts=0)
    with pytest.raises(ValueError, match="n_hidden"):
        phase_grid_config(2, 2, r, s, restarts=1)
    with pytest.raises(ValueError, match="feature_probability"):
        phase_grid_config(2, 1, r, [0.0, 0.5], restarts=1)
    with pytest.raises(ValueError, match="1-D"):
        phase_grid_config(2, 1, [], s, restarts=1)


def test_phase_figures_draw():
    r, s = np.geomspace(0.1, 10, 4), np.geomspace(0.01, 1, 3)
    phase = np.array([[0, 1, 2], [1, 1, 2], [0, 0, 0], [2, 2, 1]])
    ax = plot_phase_diagram(
        phase,
        r,
        s,
        share=np.full((4, 3), 0.5),
        boundaries=[(r, 0.5 * np.ones(4), "b")],
        title="t",
    )
    assert ax.get_xscale() == "log" and ax.get_xlabel() and ax.get_ylabel()
    g = np.linspace(-1, 1, 5)
    A, B = np.meshgrid(g, g, indexing="ij")
    ax = plot_loss_surface(A, B, A**2 + B**2, minima=[(0.0, 0.0)], title="t")
    assert ax.get_xlabel() and ax.get_ylabel()
    plt.close("all")
