"""The sparse-uniform sampler and its common-random-numbers variants.

Every sampler is a callable ``sampler(batch_size) -> x`` with ``x: [B, I, n]`` (batch,
instance, feature). It owns a ``torch.Generator`` on its device, so two samplers built
with the same seed produce the same stream, and its state can be saved with a checkpoint
(``state_dict`` / ``load_state_dict``). Samplers know nothing of models.

``SparseUniform`` is the data law of TMS (x_i = 0 with probability S = 1 - p, else
uniform): every family with independent sparse features draws from it.
"""

from __future__ import annotations

import numpy as np
import torch

from .checks import (
    check_choice,
    check_positive_int,
    check_probabilities,
    resolve_device,
)
from .seeds import make_generator

# How SparseUniform draws on the CPU ("auto"): instances with mean feature probability
# below SPARSE_BELOW are drawn active entry by active entry, the others with one uniform per
# entry; the sparse path is used only from SPARSE_MIN_ENTRIES entries per call, below which
# its fixed cost dominates. Crossovers measured on a 2-core CPU: README, "Speed".
SPARSE_BELOW = 0.15
SPARSE_MIN_ENTRIES = 1 << 18
CANDIDATES_PER_ROW = (
    256  # rows of the sparse walk: long enough to amortise, short enough to pad little
)
MARGIN_SD = 2.0  # gaps drawn per row and round: mean + MARGIN_SD standard deviations + 2
SAMPLING_METHODS = ("auto", "dense", "sparse", "columns")
LAYOUTS = ("strided", "sparse")


class SparseUniform:
    """Sparse features: x_i = 0 with probability 1 - p_i, else uniform on [low, high].

    The TMS data (low=0, high=1) and the signed data of the computation models
    (low=-1, high=1). ``feature_probability`` p is broadcastable to ``[I, n]``; each
    entry is the probability 1 - S that the feature is active, in (0, 1].

    ``method`` says how a batch is drawn, never what is drawn (the law is the same):
      "dense"   one uniform u per entry: active iff u < p, and then u / p is the value's uniform
                (``fill_dense_``);
      "sparse"  the active entries of each instance as a Bernoulli process (geometric gaps),
                then one uniform per active entry, at a cost proportional to their number
                (``scatter_sparse_``);
      "auto"    on the CPU, "sparse" for the instances with mean p < ``SPARSE_BELOW`` (in
                batches with at least ``SPARSE_MIN_ENTRIES`` such entries) and "dense" for the
                rest; on a GPU "dense" (random numbers are cheap there and the sparse path
                would need host syncs).
      "columns" (CPU only) every (instance, feature) column of the batch as its own
                Bernoulli process at its own rate p_i (``draw_columns``): a cost
                proportional to the active entries plus one short walk per column, whatever
                the spread of p. "sparse" walks each instance at the rate of its most
                frequent feature and thins, which is slow when p is very uneven (a power
                law p_i ~ i^-(1+a) with p_1 ~ 0.6 and mean p ~ 1/n); "auto" never picks
                "columns", so that the streams of existing runs do not change.
    ``layout`` says what a batch is: "strided" (default), a dense tensor; "sparse" (with
    method "columns" only), the same batch as a ``torch.sparse_coo_tensor`` of size
    ``[B, I, n]`` holding only the active entries (uncoalesced, each entry once): its
    ``to_dense()`` is the strided batch of the same seed. For models and losses that read
    the active entries directly (``lib.tms.scaling``).
    On the CPU the uniforms come from numpy's PCG64 (about 2.5x faster there than torch's
    generator), elsewhere from ``self.generator``; both are seeded by ``seed`` and saved by
    ``state_dict``. A batch is laid out ``[I, B, n]`` in memory (one contiguous block per
    instance, as batched matmuls want) and returned as the view ``[B, I, n]``.
    """

    def __init__(self, feature_probability, *, low: float = 0.0, high: float = 1.0, seed: int = 0,
                 device="cpu", method: str = "auto", layout: str = "strided"):
        p = check_probabilities("feature_probability", feature_probability)
        if p.ndim != 2:
            raise ValueError(
                f"feature_probability must be [n_instances, n_features], got shape {p.shape}"
            )
        if not high > low:
            raise ValueError(f"high must be > low, got low={low}, high={high}")
        self.method = check_choice("method", method, SAMPLING_METHODS)
        self.device = resolve_device(device)
        if method == "columns" and self.device.type != "cpu":
            raise ValueError(
                f"method 'columns' draws on the CPU (numpy), got device {self.device}; use "
                "'dense' on a GPU"
            )
        self.layout = check_choice("layout", layout, LAYOUTS)
        if layout == "sparse" and method != "columns":
            raise ValueError(f"layout 'sparse' needs method 'columns', got method {method!r}")
        self.probability = torch.as_tensor(p, dtype=torch.float32, device=self.device)
        self._p64 = self.probability.double().cpu().numpy()  # the rates "columns" walks at
        self.low, self.high = float(low), float(high)
        self.generator = make_generator(seed, self.device)
        self.numpy_generator = np.random.Generator(np.random.PCG64(self.generator.initial_seed()))
        sparse = np.full(len(p), method == "sparse")
        if method == "auto" and self.device.type == "cpu":
            sparse = p.mean(axis=1) < SPARSE_BELOW
        self._sparse_ids = np.flatnonzero(sparse)
        self._rows: dict = {}  # batch size -> the rows of the sparse walk (``sparse_rows``)

    @property
    def n_instances(self) -> int:
        return self.probability.shape[0]

    @property
    def n_features(self) -> int:
        return self.probability.shape[1]

    def __call__(self, batch_size: int) -> torch.Tensor:
        """Return ``x: [B, I, n]`` float32 on the sampler's device (a view of ``[I, B, n]``)."""
        b = check_positive_int("batch_size", batch_size)
        if self.method == "columns":
            column, position, values = draw_columns(
                self._p64, b, self.low, self.high, self.numpy_generator
            )
            n = self.n_features
            if self.layout == "sparse":
                index = torch.stack([position, column // n, column % n])
                return torch.sparse_coo_tensor(index, values, (b, self.n_instances, n),
                                               check_invariants=False)  # fmt: skip
            x = torch.zeros(self.n_instances, b, n)
            x.view(-1)[(column // n) * (b * n) + position * n + column % n] = values
            return x.transpose(0, 1)
        n_sparse = len(self._sparse_ids)
        if self.method == "auto" and b * self.n_features * n_sparse < SPARSE_MIN_ENTRIES:
            n_sparse = 0
        # one spare slot past the end takes the sparse walk's draws that fall past the batch
        flat = torch.empty(self.n_instances * b * self.n_features + 1, device=self.device)
        x = flat[:-1].view(self.n_instances, b, self.n_features)
        if n_sparse == 0:
            fill_dense_(x, self.probability, self.low, self.high, self._uniform)
            return x.transpose(0, 1)
        is_sparse = np.zeros(self.n_instances, dtype=bool)
        is_sparse[self._sparse_ids] = True
        cuts = [0, *(np.flatnonzero(np.diff(is_sparse)) + 1), self.n_instances]
        for start, stop in zip(cuts[:-1], cuts[1:]):  # runs of instances drawn the same way
            if is_sparse[start]:
                x[start:stop].zero_()
            else:
                fill_dense_(
                    x[start:stop], self.probability[start:stop], self.low, self.high, self._uniform
                )
        if b not in self._rows:
            self._rows = {b: sparse_rows(self.probability, self._sparse_ids, b)}
        scatter_sparse_(flat, self._rows[b], self.n_features, self.low, self.high, self._uniform)
        return x.transpose(0, 1)

    def _uniform(self, out: torch.Tensor) -> torch.Tensor:
        """Fill the contiguous float32 tensor ``out`` with uniforms on [0, 1); return it."""
        if self.device.type == "cpu":
            self.numpy_generator.random(dtype=np.float32, out=out.view(-1).numpy())
        else:
            out.uniform_(generator=self.generator)
        return out

    def state_dict(self) -> dict:
        return {
            "generator": self.generator.get_state(),
            "numpy_generator": self.numpy_generator.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        if "numpy_generator" in state:
            self.numpy_generator.bit_generator.state = state["numpy_generator"]


def fill_dense_(out: torch.Tensor, p: torch.Tensor, low: float, high: float, uniform) -> None:
    """Fill ``out: [I, B, n]`` in place: one uniform u per entry, active iff u < p (``p: [I, n]``).

    Given u < p, u / p is uniform on [0, 1). With y = low + (high - low) u / p, the entry
    is y if y < high, else 0: computed as -threshold(-y, -high, 0), three in-place passes
    without a (slow, branchy) boolean mask. ``uniform(t)`` fills ``t`` with U[0, 1).
    """
    y = uniform(out).mul_((low - high) / p[:, None, :])  # -(y - low)
    if low:
        y.sub_(low)
    torch.nn.functional.threshold_(y, -high, 0.0).neg_()


def sparse_rows(probability: torch.Tensor, sparse_ids: np.ndarray, b: int) -> list[dict]:
    """The rows of the sparse walk over instances ``sparse_ids`` for batch size ``b``.

    Instance k's block of B * n entries (flat index k B n onwards) is cut into rows that each
    expect about ``CANDIDATES_PER_ROW`` candidates at its rate q_k = max_i p_ki; rows are
    grouped by their expected count (within a factor 2), and each group is drawn as one
    rectangle by ``scatter_sparse_``. Each row: flat ``start``, ``length``, rate ``q``,
    ``inv_log_q`` = 1 / log(1 - q), and ``keep`` = p_ki / q_k over its features ``[n]``.
    """
    dev, n = probability.device, probability.shape[1]
    size = b * n
    ids = torch.as_tensor(sparse_ids, device=dev)
    p = probability[ids]  # [S, n]
    q = p.amax(dim=1)  # [S]
    length = (CANDIDATES_PER_ROW / q).ceil().clamp(max=size).long()  # entries per row
    pieces = (size + length - 1) // length  # rows per instance
    s = torch.repeat_interleave(torch.arange(q.numel(), device=dev), pieces)
    piece = torch.arange(s.numel(), device=dev) - (pieces.cumsum(0) - pieces)[s]
    rows = {
        "start": ids[s] * size + piece * length[s],
        "length": torch.minimum(length[s], size - piece * length[s]),
        "q": q[s],
        "inv_log_q": torch.log1p(-q[s]).reciprocal_(),
        "keep": (p / q[:, None])[s],
    }
    group = (rows["length"] * rows["q"]).log2().floor()
    return [{k: v[group == g] for k, v in rows.items()} for g in group.unique()]


def scatter_sparse_(
    flat: torch.Tensor, row_groups: list[dict], n: int, low: float, high: float, uniform
) -> None:
    """Write the active entries of the rows (``sparse_rows``) into the zeroed ``flat``.

    Each row is walked in memory order as a Bernoulli process of rate q: the gaps between
    candidates are iid Geometric(q), drawn by inversion, 1 + floor(log U / log(1 - q)).
    Where p varies across features, a candidate of feature i is kept with probability
    p_i / q (thinning), using its value's uniform v: kept iff v < p_i / q, and then
    v q / p_i is uniform. A row gets its mean number of gaps plus ``MARGIN_SD`` standard
    deviations plus 2; a row whose gaps end before the row does is continued in another
    round, so no row is ever cut short. Candidates past the end of their row go to the
    spare last slot
    of ``flat`` (``[I * B * n + 1]``).
    """
    for rows in row_groups:
        thin = bool((rows["keep"] < 1).any())
        last = torch.full_like(rows["start"], -1)  # offset of each row's latest candidate
        todo = torch.arange(last.numel(), device=flat.device)
        while todo.numel():
            length = rows["length"][todo, None]
            mean = (length - 1 - last[todo, None]) * rows["q"][todo, None]
            draws = int((mean + MARGIN_SD * mean.sqrt() + 2).max())
            # failures before each candidate, + 1 (u = 0 is read as the next float up: log u stays
            # finite, so q = 1, where 1 / log(1 - q) = -0, gives gaps of exactly 1)
            u = uniform(torch.empty((todo.numel(), draws), device=flat.device)).clamp_(min=2**-25)
            gaps = (
                u.log_().mul_(rows["inv_log_q"][todo, None]).clamp_(max=length.max()).long().add_(1)
            )
            offset = gaps.cumsum(dim=1).add_(last[todo, None])
            outside = offset >= length
            values = uniform(torch.empty((todo.numel(), draws), device=flat.device))
            index = offset + rows["start"][todo, None]
            if thin:  # instance blocks start at multiples of n: the feature is index % n
                a = (rows["keep"][todo, None] .expand(-1, draws, -1) .gather(2, (index % n)[...,
                     None])[..., 0])
                outside |= values >= a
                values.div_(a)
            if (low, high) != (0.0, 1.0):
                values.mul_(high - low).add_(low)
            flat.scatter_(
                0, index.masked_fill_(outside, flat.numel() - 1).flatten(), values.flatten()
            )
            last[todo] = offset[:, -1]
            todo = todo[last[todo] < rows["length"][todo]]


def draw_columns(probability: np.ndarray, b: int, low: float, high: float,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The active entries of a batch of ``b`` samples: ``(column, position, value)``, each
    ``[K]``: column k n + i of instance k and feature i, the sample in [0, b), the value.

    Column (k, i), the b samples of feature i in instance k, is a Bernoulli process of rate
    p = ``probability[k, i]`` (float64 ``[I, n]``): the gaps between its active samples are
    iid Geometric(p), drawn by inversion, 1 + floor(log U / log(1 - p)) (gaps of 1 when
    p = 1). Each column gets its mean number of gaps plus ``MARGIN_SD`` standard deviations
    plus 2 at once; a column whose gaps end before the batch does is walked on in another
    round, so none is ever cut short. Active values are uniform on [low, high]. The work is
    proportional to the number of active entries plus a few draws per column.
    """
    rate = probability.reshape(-1)
    with np.errstate(divide="ignore"):
        log_q = np.log1p(-np.minimum(rate, 1.0))  # -inf where p = 1: every gap is 1
    columns, positions = [], []
    todo = np.flatnonzero(rate > 0)
    last = np.full(rate.size, -1, dtype=np.int64)  # each column's latest active sample
    while todo.size:
        mean = (b - 1 - last[todo]) * rate[todo]
        draws = np.ceil(mean + MARGIN_SD * np.sqrt(mean) + 2).astype(np.int64)
        column = np.repeat(todo, draws)
        u = np.maximum(rng.random(column.size), 1e-300)
        with np.errstate(divide="ignore"):
            # log u / -inf = -0: gaps of 1; cap at b + 1, which passes the end (last >= -1)
            gaps = np.minimum(np.floor(np.log(u) / log_q[column]), b).astype(np.int64) + 1
        ends = np.cumsum(draws)
        walked = np.cumsum(gaps)
        before = np.concatenate([[0], walked[ends[:-1] - 1]])
        position = walked - np.repeat(before - last[todo], draws)
        inside = position < b
        columns.append(column[inside])
        positions.append(position[inside])
        last[todo] = position[ends - 1]
        todo = todo[last[todo] < b - 1]
    column = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
    position = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
    values = rng.random(column.size, dtype=np.float32)
    if (low, high) != (0.0, 1.0):
        values = values * np.float32(high - low) + np.float32(low)
    return torch.from_numpy(column), torch.from_numpy(position), torch.from_numpy(values)


class SharedSparseUniform(SparseUniform):
    """``SparseUniform`` with common random numbers: every instance sees the same uniforms.

    Instance k's feature i is active when u_i < p_{k,i}, with one u per sample shared by
    all instances (and one shared value). Each instance alone has exactly the
    distribution of ``SparseUniform``; across instances the draws are coupled, so the
    *difference* between two instances' losses is measured with much less noise. Meant
    for evaluation (e.g. comparing restarts or geometries at the same sparsity).
    """

    def __init__(self, feature_probability, *, seed: int = 0, device="cpu"):
        super().__init__(feature_probability, seed=seed, device=device, method="dense")

    def __call__(self, batch_size: int) -> torch.Tensor:
        """Return ``x: [B, I, n]`` float32; ``x[:, k]`` and ``x[:, l]`` share their uniforms."""
        b = check_positive_int("batch_size", batch_size)
        shape = (b, 1, self.n_features)
        u = torch.rand(shape, generator=self.generator, device=self.device)
        values = torch.rand(shape, generator=self.generator, device=self.device)
        return torch.where(u < self.probability, values, torch.zeros((), device=self.device))

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


class SharedAcrossInstances:
    """Common random numbers for restarts: one draw per group, copied to every instance of it.

    ``base`` is a sampler with G instances (one per setting, e.g. per sparsity) and
    ``groups`` an ``[I]`` sequence of group indices in [0, G). ``sampler(B)`` returns
    ``base(B)[:, groups]``: ``[B, I, n]``, so the restarts of one setting are evaluated on
    identical inputs and their losses differ only by what the models learned (picking the
    best of k restarts is then not decided by sampling noise).
    """

    def __init__(self, base, groups):
        self.base = base
        self.groups = torch.as_tensor(np.asarray(groups, dtype=np.int64))
        g = getattr(base, "n_instances", None)
        if self.groups.ndim != 1 or self.groups.numel() == 0:
            raise ValueError(
                f"groups must be a non-empty 1-D sequence, got shape {tuple(self.groups.shape)}"
            )
        if self.groups.min() < 0 or (g is not None and self.groups.max() >= g):
            raise ValueError(
                f"groups must lie in [0, {g}) (the base sampler's instances), "
                f"got values in [{int(self.groups.min())}, {int(self.groups.max())}]"
            )

    @property
    def n_instances(self) -> int:
        return self.groups.numel()

    def __call__(self, batch_size: int) -> torch.Tensor:
        x = self.base(batch_size)
        return x[:, self.groups.to(x.device)]

    def state_dict(self) -> dict:
        return self.base.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.base.load_state_dict(state)
