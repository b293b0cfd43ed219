"""The engine: no paper in it. Families build on it; it imports none of them.

The names a chapter uses most are re-exported here.
"""

from .features import importance_decay
from .fit import Fit, evaluate_config, fit
from .restarts import (
                       all_but_worst_per_group,
                       best_of_restarts,
                       best_per_group,
                       plurality_per_group,
)
from .seeds import stream
from .training import History, TrainConfig, evaluate, train

__all__ = ["Fit", "History", "TrainConfig", "all_but_worst_per_group", "best_of_restarts",
           "best_per_group", "evaluate", "evaluate_config", "fit", "importance_decay",
           "plurality_per_group", "stream", "train"]
