"""hf-challenger: attribution-guided training (Challenger) for ``transformers.Trainer``.

Public API (see DESIGN): :class:`ChallengerConfig`, :class:`ChallengerTrainingArguments`,
:class:`ChallengerTrainer`, :mod:`hf_challenger.lrp` and :mod:`hf_challenger.metrics`.
Importing the package registers its models with transformers' Auto classes.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0.dev0"

from . import models  # noqa: E402,F401  (registers the Auto classes)

_LAZY = {
    "ChallengerConfig": "hf_challenger.config",
    "ChallengerTrainingArguments": "hf_challenger.training_args",
    "ChallengerTrainer": "hf_challenger.trainer",
    "EpsilonLRP": "hf_challenger.lrp",
    "load_benchmark": "hf_challenger.data",
    "make_tiny": "hf_challenger.data",
}

__all__ = ["__version__", "data", "lrp", "metrics", "models", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name in ("lrp", "metrics", "data", "challenge", "plots", "cli", "recipe", "compare", "mixup"):
        return import_module(f"hf_challenger.{name}")
    raise AttributeError(f"module 'hf_challenger' has no attribute {name!r}")
