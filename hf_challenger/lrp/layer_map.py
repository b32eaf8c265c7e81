"""Which module type gets which epsilon-LRP rule.

The map is an ordered list of ``(module types, rule)``; the first entry whose types match a module
wins. A module with a rule is applied as a whole (the calls inside its forward get no rules of their
own). Modules that match no entry are traversed: the calls inside their forwards get the rules of
:mod:`hf_challenger.lrp.functional_rules`, and a call with no rule there is refused (unless the
engine is built with ``unknown_layers="gradient"``). Normalisation modules written out by hand
(:func:`is_normalisation`) are traversed with their normalising statistic held constant.
"""

from __future__ import annotations

from torch import nn

from .rules import EpsilonRule, GradientRule, IdentityRule, MergedBatchNormRule, Rule

LayerMap = list[tuple[tuple[type[nn.Module], ...], Rule]]

LINEAR_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d)
AVERAGE_POOL_TYPES: tuple[type[nn.Module], ...] = (
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
)
BATCH_NORM_TYPES: tuple[type[nn.Module], ...] = (nn.BatchNorm1d, nn.BatchNorm2d)
PASS_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
    nn.Embedding,
    nn.PReLU,  # positively homogeneous: its gradient is f(x) / x
)
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Mish,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,
    nn.ReLU6,
    nn.Softplus,
    nn.Softsign,
)
NORMALISATION_TYPES: tuple[type[nn.Module], ...] = (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)


def transformers_linear_types() -> tuple[type[nn.Module], ...]:
    """``transformers.pytorch_utils.Conv1D`` (GPT-2's linear layer), if transformers is installed."""
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover - transformers is a dependency
        return ()
    return (Conv1D,)


def transformers_activation_types() -> tuple[type[nn.Module], ...]:
    """The element-wise activation modules of ``transformers.activations.ACT2CLS``."""
    try:
        from transformers.activations import ACT2CLS
    except ImportError:  # pragma: no cover
        return ()
    classes = {entry[0] if isinstance(entry, tuple) else entry for entry in ACT2CLS.values()}
    return tuple(c for c in classes if not issubclass(c, PASS_TYPES))


def is_normalisation(module: nn.Module) -> bool:
    """LayerNorm/GroupNorm/RMSNorm, or a module whose class name ends in ``Norm`` (Llama's RMSNorm,
    T5's LayerNorm ...); BatchNorm has a rule of its own."""
    return isinstance(module, NORMALISATION_TYPES) or type(module).__name__.lower().endswith("norm")


def default_layer_map() -> LayerMap:
    """The project's convention (zennit's ``Epsilon`` with ``SequentialMergeBatchNorm`` on CNNs; the
    AttnLRP/CP-LRP module rules on transformers)."""
    return [
        (LINEAR_TYPES + transformers_linear_types(), EpsilonRule(mergeable=True)),
        (AVERAGE_POOL_TYPES, EpsilonRule()),
        (BATCH_NORM_TYPES, MergedBatchNormRule()),
        (PASS_TYPES, GradientRule()),
        (ACTIVATION_TYPES + transformers_activation_types(), IdentityRule()),
    ]


def rule_for(module: nn.Module, layer_map: LayerMap) -> Rule | None:
    """The rule of the first matching entry, or ``None`` for a module that is traversed."""
    for types, rule in layer_map:
        if isinstance(module, types):
            return rule
    return None
