"""Experiments: everything that knows configs, files, plots and processes (the library never
imports this package). One runner per ``surrogate-guard`` subcommand, each with
``add_arguments(parser)`` and ``run(args)``:

- ``run`` (story, with runconfig, report, progress): the whole story of one seed in a run
  directory (``demo`` is it at demo size).
- ``attack``: the localized backdoor per seed and guard count (``DEFAULT_CONFIG``, ``run_seed``).
- ``defend``: detection strategies, baselines, false alarms and repair; ``--sweep``.
- ``quality``: clean surrogate quality against training-set size.
- ``learn``: active-learning strategies over seeds, as learning curves.
- ``price``: every oracle on one batch, against the closed form and QuantLib.

Shared: ``config`` (JSON over embedded defaults, ``make_oracle``), ``io`` (output folder, atomic
JSON, a run directory written whole), ``runner`` (``per_seed``: seeds in worker processes), ``pipeline`` (``SeedArtifacts``,
``train_surrogate``, ``make_attack``), ``plots``. Submodules are imported on use.
"""
