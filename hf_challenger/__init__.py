"""hf-challenger: attribution-guided training (Challenger) for ``transformers.Trainer``.

Public API (see DESIGN): :class:`ChallengerConfig`, :class:`ChallengerTrainingArguments`,
:class:`ChallengerTrainer`, :mod:`hf_challenger.lrp` and :mod:`hf_challenger.metrics`.

``import hf_challenger`` alone imports neither torch nor transformers (so the command line
answers ``--help`` at once). The first name taken from the package (``ChallengerTrainer``,
``hf_challenger.models`` ...) imports :mod:`hf_challenger.models`, which registers the
package's models with transformers' Auto classes; importing ``hf_challenger.trainer``,
``hf_challenger.training_args`` or ``hf_challenger.models`` does the same.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0.dev0"

_LAZY = {
    "ChallengerConfig": "hf_challenger.config",
    "ChallengerTrainingArguments": "hf_challenger.training_args",
    "ChallengerTrainer": "hf_challenger.trainer",
    "EpsilonLRP": "hf_challenger.lrp",
    "load_benchmark": "hf_challenger.data",
    "make_tiny": "hf_challenger.data",
}
_SUBMODULES = ("lrp", "metrics", "data", "models", "challenge", "plots", "cli", "mixup")

__all__ = ["__version__", "data", "lrp", "metrics", "models", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY or name in _SUBMODULES:
        import_module("hf_challenger.models")  # registers the Auto classes before anything is used
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return import_module(f"hf_challenger.{name}")
    raise AttributeError(f"module 'hf_challenger' has no attribute {name!r}")
