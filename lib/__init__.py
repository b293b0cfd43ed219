"""lib: the thin, batched torch library behind the superposition book.

Laid out by model family, on a core that knows no paper:

    core/         the engine: validation (checks), named seed streams (seeds), the
                  sparse-uniform sampler (sampling), the instance axis (instances),
                  train()/evaluate() and TrainConfig (training), fit() for any family's
                  config (fit), restarts as instances (restarts), shared losses,
                  small statistics (stats), AdamW with a decay of either sign
                  (optim), figure style (style)
    tms/          the tied autoencoders of TMS: config, model, feature sets, measures,
                  polytopes, the sparsity expansion, phase theory, learning dynamics,
                  adversarial attacks, scaling with width, plots
    computation/  privileged basis, absolute value, attenuated ReLU: configs, models,
                  neuron measures, theory, plots
    denoiser/     the frustrated denoiser: config, data, model, losses, sign structure,
                  random basins, the regime map, pinning fields, plots
    reporting/    claims tables, results and provenance, the chapter runner

Layer rules (checked by the import-linter contracts in pyproject.toml, run by
``make lint``): ``core`` imports no family and not ``reporting``; a family imports
``core`` and no other family; ``reporting`` imports nothing else of ``lib``. A family's
config is validated once, when built, and builds its model, sampler and loss
(``build_model``, ``build_sampler``, ``build_loss``, ``build_target``) for
``lib.core.fit.fit``. Data flows one way: config -> sampler -> model -> fit -> measures
-> plots and claims.
"""

__version__ = "0.2.0"
