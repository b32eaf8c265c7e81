"""Which module type gets which epsilon-LRP rule.

The map is an ordered list of ``(module types, rule)``; the first entry whose types match a module
wins. Modules that match no entry are *unknown*: the engine refuses them unless the user opts into
gradient flow for them (``EpsilonLRP(model, unknown_layers="gradient")``), which is exact for
element-wise layers that are positively homogeneous (relevance passes unchanged) and an approximation
for other element-wise layers such as GELU or sigmoid.
"""

from __future__ import annotations

from torch import nn

from .rules import EpsilonRule, GradientRule, MergedBatchNormRule, Rule

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
)


def default_layer_map() -> LayerMap:
    """The project's convention (zennit's ``Epsilon`` with ``SequentialMergeBatchNorm``)."""
    return [
        (LINEAR_TYPES, EpsilonRule(mergeable=True)),
        (AVERAGE_POOL_TYPES, EpsilonRule()),
        (BATCH_NORM_TYPES, MergedBatchNormRule()),
        (PASS_TYPES, GradientRule()),
    ]


def rule_for(module: nn.Module, layer_map: LayerMap) -> Rule | None:
    """The rule of the first matching entry, or ``None`` for an unknown module."""
    for types, rule in layer_map:
        if isinstance(module, types):
            return rule
    return None
