"""Epsilon-LRP rules in the gradient domain.

Relevance R at a tensor a is carried as G = R / a, so that every rule becomes a small change to the
ordinary backward pass and the relevance of the attributed tensor is ``x * grad``:

- :class:`EpsilonRule` (Linear, Conv, average pooling, a lone BatchNorm). The epsilon rule
  ``R_j = sum_k a_j w_jk / (z_k + eps * sign(z_k)) * R_k`` is the layer's ordinary backward applied to
  the incoming gradient scaled by ``z / (z + eps * sign(z))`` (sign(0) = +1, bias inside z).
- :class:`MergedBatchNormRule` (a BatchNorm whose input is the output of a Linear/Conv). The pair is one
  affine map, so the scaling moves from the Linear/Conv output to the BatchNorm output.
- :class:`GradientRule` (ReLU, LeakyReLU, max pooling, eval-mode dropout, flatten, identity). Relevance
  passes unchanged, R_in = R_out, which in the gradient domain is the ordinary gradient.
- :class:`IdentityRule` (GELU, SiLU, tanh, sigmoid ... modules, whatever their forward computes).
  Relevance passes unchanged, R_in = R_out, i.e. ``g_in = g_out * f(x) / x``; the module's own graph is
  not built.

Calls inside forwards that module hooks do not see (attention, functional norms and activations) get
their rules from :mod:`hf_challenger.lrp.functional_rules`.

Rules are small objects; which module gets which rule is decided by the layer map in
:mod:`hf_challenger.lrp.layer_map`, and the hooks that apply them live in :mod:`hf_challenger.lrp.engine`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from .activations import ActivationSet
from .errors import UnsupportedLayerError

if TYPE_CHECKING:
    from .functional_rules import RuleMode


@dataclass
class _ScaleGate:
    """Switch for one pending output scaling; a merged BatchNorm turns its producer's off."""

    active: bool = True


@dataclass
class PassState:
    """What one attribution pass records while the forward runs.

    ``producers`` maps ``id(output)`` of each Linear/Conv output to the output tensor and the gate of
    its scaling, so that a BatchNorm consuming exactly that tensor can merge with it. ``watched``
    holds every scaled output with its version counter at creation, to detect in-place changes;
    ``snapshot`` names the modules whose outputs are changed in place later in the forward (e.g. a
    residual ``+=`` on a BatchNorm output), so the rule keeps a copy of their values.
    ``mode`` is the pass's :class:`~hf_challenger.lrp.functional_rules.RuleMode` (gates, slopes),
    ``inputs`` the inputs of the activation modules now running, and ``activations`` the tensors that
    depend on the attributed tensor (:class:`~hf_challenger.lrp.activations.ActivationSet`).
    """

    epsilon: float
    activations: ActivationSet = field(default_factory=ActivationSet)
    snapshot: frozenset[str] = frozenset()
    mode: RuleMode | None = None
    producers: dict[int, tuple[Tensor, _ScaleGate]] = field(default_factory=dict)
    watched: list[tuple[str, Tensor, int]] = field(default_factory=list)
    inputs: list[tuple[Tensor, bool] | None] = field(default_factory=list)


def epsilon_scaled(grad: Tensor, z: Tensor, epsilon: float) -> Tensor:
    """``grad * z / (z + eps * sign(z))`` elementwise, sign(0) = +1; ``grad`` and ``z`` share a shape.

    Computed as ``grad * |z| / (|z| + eps)``, which is the same number (0 where z = 0) in four
    vectorised passes and two allocations.
    """
    magnitude = z.abs()
    return (grad * magnitude).div_(magnitude.add_(epsilon))


class Rule:
    """Base class: a rule acts on one module's output during the attribution forward."""

    def on_input(self, module: nn.Module, inputs: tuple, state: PassState) -> tuple | None:
        """Called before the module runs (forward pre-hook); may return replacement inputs."""
        return None

    def on_output(self, name: str, module: nn.Module, output: Tensor, state: PassState) -> Tensor | None:
        """Called after the module ran (forward hook); may return a replacement output."""
        return None


class GradientRule(Rule):
    """Relevance passes unchanged (ReLU-like activations, max pooling, dropout, reshapes)."""


class EpsilonRule(Rule):
    """Epsilon rule: scale the gradient arriving at the output by ``z / (z + eps * sign(z))``.

    ``mergeable=True`` (Linear, Conv) lets a BatchNorm that directly consumes the output merge with it.
    """

    def __init__(self, mergeable: bool = False) -> None:
        self.mergeable = mergeable

    def on_output(self, name: str, module: nn.Module, output: Any, state: PassState) -> None:
        if output not in state.activations:
            return None
        gate = _ScaleGate()
        epsilon = state.epsilon
        # The hook lives on ``output``; holding ``output`` itself in the closure would make a
        # reference cycle that keeps every layer output alive until the garbage collector runs.
        z = output.detach().clone() if name in state.snapshot else output.detach()

        def scale(grad: Tensor) -> Tensor | None:
            return epsilon_scaled(grad, z, epsilon) if gate.active else None

        output.register_hook(scale)
        if self.mergeable:
            state.producers[id(output)] = (output, gate)
        state.watched.append((name, output, output._version))
        return None


class MergedBatchNormRule(EpsilonRule):
    """BatchNorm under the epsilon rule, merged into a Linear/Conv that directly feeds it.

    If the BatchNorm's input is exactly the output tensor of a Linear/Conv, the two are one affine map
    (as zennit's ``SequentialMergeBatchNorm`` canonizer makes them): the producer's scaling is switched
    off and the scaling is taken at the BatchNorm's output. Otherwise the BatchNorm is its own affine
    map under the epsilon rule. Either way the BatchNorm's output is scaled.
    """

    def on_input(self, module: nn.Module, inputs: tuple, state: PassState) -> None:
        entry = state.producers.get(id(inputs[0])) if inputs else None
        if entry is not None and entry[0] is inputs[0]:
            entry[1].active = False
        return None


class IdentityRule(Rule):
    """An element-wise activation module ``y = f(x)``: relevance passes unchanged.

    The module runs on a detached input (its internal graph is never built); its output gets the
    gradient ``g * f(x) / x`` towards ``x``, with ``f(x)/x`` at ``x = 0`` taken as ``f'(0)`` when
    ``f(0) = 0`` and as ``f(0) / eps`` otherwise (:func:`~hf_challenger.lrp.gradients.identity_ratio`).
    When ``x`` is exactly the output of a Linear/Conv, that layer's epsilon scaling is folded into the
    same factor, ``f(x) / (x + eps * sign(x))``, and switched off there (one pass fewer per factor).
    """

    def on_input(self, module: nn.Module, inputs: tuple, state: PassState) -> tuple | None:
        x = inputs[0] if inputs else None
        if x not in state.activations:
            state.inputs.append(None)
            return None
        entry = state.producers.get(id(x))
        merged = entry is not None and entry[0] is x and entry[1].active
        if merged:
            entry[1].active = False
        state.inputs.append((x, merged))
        return (x.detach(), *inputs[1:])

    def on_output(self, name: str, module: nn.Module, output: Any, state: PassState) -> Tensor | None:
        pending = state.inputs.pop()
        if pending is None:
            return None
        x, merged = pending
        if not isinstance(output, Tensor) or output.shape != x.shape:
            got = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            raise UnsupportedLayerError(
                f"module '{name}' of type {type(module).__name__} is mapped to the identity rule of element-wise "
                f"activations, but maps an input of shape {tuple(x.shape)} to {got}"
            )
        return state.mode.identity((module,), module.forward, x, output, merged)
