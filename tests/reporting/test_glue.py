import numpy as np
import pytest

from lib.reporting import glue as glue_module


def test_plain_turns_numpy_scalars_into_python_numbers():
    assert type(glue_module.plain(np.float64(0.5))) is float
    assert type(glue_module.plain(np.int64(3))) is int
    assert type(glue_module.plain(np.array(2.5))) is float
    assert glue_module.plain([1, 2]) == [1, 2]  # anything else passes through
    # the failure this prevents: numpy 2 writes the scalar's type into its text form
    assert repr(np.float64(0.5)) != repr(glue_module.plain(np.float64(0.5)))


def test_glue_passes_the_plain_value_to_myst_nb(monkeypatch):
    myst_nb = pytest.importorskip("myst_nb")
    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: seen.update(
        {name: (value, display)}))
    glue_module.glue("ratio", np.float64(0.25))
    assert seen == {"ratio": (0.25, False)} and type(seen["ratio"][0]) is float
