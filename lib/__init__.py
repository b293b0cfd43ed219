"""lib: the thin, batched torch library behind the superposition book.

Modules, one job each (see DESIGN.md):
    configs      validated experiment configurations, device resolution
    data         samplers: synthetic feature batches ``[B, I, n]`` on the device
    models       toy models with a leading instance axis
    losses       per-instance losses ``[I]``
    train        the one ``train()`` loop, ``evaluate()``
    experiments  recipes: config -> sampler + model + loss -> train
    metrics      norms, interference, dimensionality, ...
    plots        the recurring figures
    claims       the claims table of every chapter
    results      where results are written, provenance
    run          ``python -m lib.run 01``: execute a chapter with papermill
"""

__version__ = "0.1.0"
