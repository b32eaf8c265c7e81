"""The non-finite policy: NaN or inf relevance, loss or gradient norm is an error naming the step and rows.

Every training micro-batch's loss and every optimizer step's gradient norm are checked too (the
gradient norm only without a gradient scaler: fp16's dynamic loss scaling skips such steps by
design), so an inf input in a clean row, or a shift that overflows the model, stops training at that
step instead of leaving NaN weights that are saved with a logged loss of 0.0.

The FGSM/PGD baselines check the loss of their attack the same way (their gradient can stay finite
for NaN inputs, since ReLU masks it, so the perturbation alone would not show it).

Why an error: relevance is ``x * grad``, so it is non-finite only when a challenged row's input, the
model's parameters or the attribution itself are. Each of these ruins the run (one such step gives
NaN weights, and ``Trainer`` logs the NaN loss as 0.0 by default), so training stops with a message
saying which rows and what is non-finite instead of continuing silently.

Cost: one ``isfinite`` reduction over the relevance per challenged micro-batch. On CPU the flags are
read at once (no device to wait for). On CUDA they are copied to host memory without blocking and
read once the copy has finished (checked without waiting at every later step; waited for only at a
logging step, where the trainer synchronises anyway), so the check adds no host sync to a step; the
error then comes one or a few steps after the bad one and names that step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn


RELEVANCE = "the relevance of the attribution pass"
LOSS = "the training loss"
GRAD_NORM = "the gradient norm"
#: FGSM/PGD: their gradient can stay finite for NaN inputs (ReLU masks it), so their loss is checked.
ATTACK_LOSS = "the FGSM/PGD attack's loss"


class NonFiniteRelevanceError(FloatingPointError):
    """The attribution pass produced NaN or inf relevance (see :mod:`hf_challenger.challenge.finite`)."""


class NonFiniteTrainingError(FloatingPointError):
    """A training micro-batch's loss or an optimizer step's gradient norm was NaN or inf."""


class FiniteGuard:
    """Checks each attribution's relevance (:class:`NonFiniteRelevanceError`) and each micro-batch's loss
    and step's gradient norm (:class:`NonFiniteTrainingError`) once, naming the step and the bad rows."""

    def __init__(self) -> None:
        self._pending: list[tuple[Tensor, torch.cuda.Event, Any]] = []

    def check(
        self, relevance: Tensor, step: int, model: nn.Module, inputs: Mapping[str, Any], what: str = RELEVANCE
    ) -> None:
        """Check ``relevance`` ``[R, *F]`` of the first ``R`` rows of the micro-batch at optimizer ``step``.

        ``inputs``: those rows' batch (used to say which input is non-finite when the error comes at once).
        ``what``: what the tensor is, for the message (:data:`ATTACK_LOSS` for the FGSM/PGD loss, 0-d).
        """
        rows = relevance.shape[0] if relevance.dim() > 0 else 1  # a 0-d tensor (a loss) is one check
        bad = ~torch.isfinite(relevance.detach()).reshape(rows, -1).all(dim=1)
        on_cpu = bad.device.type != "cuda"  # the rows' inputs are still at hand to name the bad ones
        self._defer(bad, lambda flags: self._raise_if_bad(flags, step, model, inputs if on_cpu else None, what))

    def check_training(self, value: Tensor, step: int, model: nn.Module, inputs: Mapping[str, Any], what: str) -> None:
        """Check a 0-d ``value`` (:data:`LOSS` of a micro-batch with its ``inputs``, or :data:`GRAD_NORM`).

        With the loss, the per-row flags of the batch's floating tensors travel with it, so the rows
        holding NaN/inf are named even when the flags are read steps later (CUDA).
        """
        parts, keys = [~torch.isfinite(value.detach()).reshape(1)], []
        for key, tensor in inputs.items():
            if torch.is_tensor(tensor) and tensor.is_floating_point() and tensor.dim() > 0:
                parts.append(~torch.isfinite(tensor.detach()).reshape(tensor.shape[0], -1).all(dim=1))
                keys.append((key, tensor.shape[0]))
        bad = torch.cat([part.to(parts[0].device) for part in parts])
        self._defer(bad, lambda flags: self._raise_training(flags, step, model, keys, what))

    def _raise_training(self, flags: Tensor, step: int, model: nn.Module, keys: list, what: str) -> None:
        if not bool(flags[0]):
            return
        self._pending.clear()
        offset, found = 1, []
        for key, rows in keys:
            bad_rows = flags[offset : offset + rows].nonzero().flatten().tolist()
            offset += rows
            if bad_rows:
                found.append(f"the batch's {key!r} holds NaN/inf in row(s) {bad_rows}")
        if found:
            why = "; ".join(found) + "; remove or repair those examples in the training data"
        else:
            checked = "the batch's floating inputs, " if keys else ""
            why = _state_diagnosis(model) or (
                f"{checked}the parameters and buffers are finite, so the loss or its gradient overflowed: a challenge "
                "shift too large for the model (lower challenger_alpha / challenger_beta), a learning rate too "
                "high, or inputs too large"
            )
        raise NonFiniteTrainingError(
            f"ChallengerTrainer: at optimizer step {step} {what} was NaN/inf: {why}. Training stops here, before "
            "NaN weights are trained on or saved."
        )

    def _defer(self, bad: Tensor, report: Any) -> None:
        """Call ``report(flags)`` now (CPU) or once the non-blocking copy of ``bad`` has landed (CUDA)."""
        if bad.device.type != "cuda":
            report(bad)
            return
        flags = torch.empty(bad.shape, dtype=torch.bool, pin_memory=True)
        flags.copy_(bad, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        self._pending.append((flags, done, report))
        self.poll(wait=False)

    def poll(self, wait: bool) -> None:
        """Read the flags of earlier CUDA checks whose copy has finished (all of them if ``wait``)."""
        while self._pending:
            flags, done, report = self._pending[0]
            if wait:
                done.synchronize()
            elif not done.query():
                return
            self._pending.pop(0)
            report(flags)

    def _raise_if_bad(
        self, bad: Tensor, step: int, model: nn.Module, inputs: Mapping[str, Any] | None, what: str
    ) -> None:
        if not bool(bad.any()):
            return
        self._pending.clear()
        rows = bad.nonzero().flatten().tolist()
        where = f" for row(s) {rows} of the micro-batch ({len(bad)} challenged rows)" if what != ATTACK_LOSS else ""
        raise NonFiniteRelevanceError(
            f"ChallengerTrainer: at optimizer step {step} {what} was NaN/inf{where}: {_diagnosis(model, inputs)}. "
            "Training stops here: a non-finite step turns the weights into NaN (and Trainer logs the NaN "
            "loss as 0.0)."
        )


def _diagnosis(model: nn.Module, inputs: Mapping[str, Any] | None) -> str:
    """What is non-finite: the rows' inputs, the model's parameters, or neither (the attribution itself)."""
    if inputs is not None:
        for key, value in inputs.items():
            if torch.is_tensor(value) and value.is_floating_point() and value.dim() > 0:
                flat = value.detach().reshape(value.shape[0], -1)
                bad_rows = (~torch.isfinite(flat).all(dim=1)).nonzero().flatten().tolist()
                if bad_rows:
                    return (
                        f"the batch's {key!r} holds NaN/inf in row(s) {bad_rows}; remove or repair those "
                        "examples in the training data"
                    )
    state = _state_diagnosis(model)
    if state is not None:
        return state
    where = "the inputs and " if inputs is not None else ""
    return (
        f"{where}the parameters are finite, so the attribution overflowed in float32 (very large activations "
        "or logits); raise challenger_epsilon or scale the inputs"
    )


def _state_diagnosis(model: nn.Module) -> str | None:
    """The first NaN/inf parameter or floating buffer of ``model``, said with its likely cause; else ``None``."""
    for name, parameter in model.named_parameters():
        if not torch.isfinite(parameter.detach()).all():
            return (
                f"the model's parameter {name!r} is NaN/inf: training diverged, or an earlier batch held NaN/inf "
                "inputs; lower the learning rate or check the training data"
            )
    for name, buffer in model.named_buffers():
        if buffer.is_floating_point() and not torch.isfinite(buffer.detach()).all():
            return f"the model's buffer {name!r} (e.g. BatchNorm statistics) is NaN/inf; check the data"
    return None


def check_knobs_fit(config: Any, dtype: torch.dtype, source: str) -> None:
    """Refuse a float knob that is not finite in ``dtype``, the attributed tensor's dtype (``source`` says
    where it was taken from, for the message).

    ``alpha``/``beta`` (``perturbation="challenger"``) or ``adversarial_epsilon`` and the PGD step size
    are added to that tensor, so a value beyond ``torch.finfo(dtype).max`` (``alpha=1e39`` in float32)
    becomes inf there; ``epsilon`` enters the attribution pass, which runs in float32.

    Raises:
        ValueError: naming the field, its value, the dtype and the largest value allowed.
    """
    if not dtype.is_floating_point:
        return
    if config.perturbation == "challenger":
        knobs = {"alpha": config.alpha, "beta": config.beta}
    else:
        knobs = {"adversarial_epsilon": config.adversarial_epsilon, "adversarial_step_size": config.pgd_step_size}
    checks = [(name, value, dtype, source) for name, value in knobs.items()]
    checks.append(("epsilon", config.epsilon, torch.float32, "the attribution pass runs in float32"))
    for name, value, kind, why in checks:
        limit = torch.finfo(kind).max
        if abs(float(value)) > limit:
            raise ValueError(
                f"challenger_{name}={float(value):.6g} is not finite in {str(kind).replace('torch.', '')} ({why}); "
                f"it must be at most {limit:.6g}"
            )
