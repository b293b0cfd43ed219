"""Named seed streams: reproducible, distinct by name and by seed, refusing bad input."""

import pytest

from lib.core.seeds import instance_seed, stream


def test_streams_repeat_and_differ_by_name_and_seed():
    assert stream(0, "eval") == stream(0, "eval")
    names = ["eval", "train", "restarts", "basins", "eval2"]
    values = {stream(seed, name) for seed in range(5) for name in names}
    assert len(values) == 25
    assert all(0 <= v < 2**63 for v in values)


def test_stream_is_not_an_offset_of_the_seed():
    # the old magic offsets made seed 1's "eval" equal seed 10_008's training stream
    assert stream(1, "eval") not in {1 + k for k in range(100_000)}


@pytest.mark.parametrize("seed, name", [(0, ""), (0, 3), ("0", "eval"), (True, "eval")])
def test_stream_refuses_bad_input(seed, name):
    with pytest.raises(ValueError):
        stream(seed, name)


def test_instance_seed_ignores_the_instance_count():
    assert instance_seed(3, 7) == instance_seed(3, 7) != instance_seed(3, 8)
