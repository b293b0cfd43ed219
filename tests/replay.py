"""Test helper: a sampler that replays recorded batches (``from replay import Replay``)."""


class Replay:
    """Replays recorded batches ``[B, I, n]``, optionally one instance's slice of them."""

    def __init__(self, batches, instance=None):
        self.batches, self.instance, self.i = batches, instance, 0

    def __call__(self, batch_size):
        x = self.batches[self.i]
        self.i += 1
        return x if self.instance is None else x[:, self.instance : self.instance + 1]
