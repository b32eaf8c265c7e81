"""The non-finite policy of the attribution pass: NaN or inf relevance is an error naming the rows.

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
#: FGSM/PGD: their gradient can stay finite for NaN inputs (ReLU masks it), so their loss is checked.
ATTACK_LOSS = "the FGSM/PGD attack's loss"


class NonFiniteRelevanceError(FloatingPointError):
    """The attribution pass produced NaN or inf relevance (see :mod:`hf_challenger.challenge.finite`)."""


class FiniteGuard:
    """Checks each attribution's relevance once; raises :class:`NonFiniteRelevanceError` for bad rows."""

    def __init__(self) -> None:
        self._pending: list[tuple[int, Tensor, torch.cuda.Event, str]] = []

    def check(
        self, relevance: Tensor, step: int, model: nn.Module, inputs: Mapping[str, Any], what: str = RELEVANCE
    ) -> None:
        """Check ``relevance`` ``[R, *F]`` of the first ``R`` rows of the micro-batch at optimizer ``step``.

        ``inputs``: those rows' batch (used to say which input is non-finite when the error comes at once).
        ``what``: what the tensor is, for the message (:data:`ATTACK_LOSS` for the FGSM/PGD loss, 0-d).
        """
        rows = relevance.shape[0] if relevance.dim() > 0 else 1  # a 0-d tensor (a loss) is one check
        bad = ~torch.isfinite(relevance.detach()).reshape(rows, -1).all(dim=1)
        if bad.device.type != "cuda":
            self._raise_if_bad(bad, step, model, inputs, what)
            return
        flags = torch.empty(bad.shape, dtype=torch.bool, pin_memory=True)
        flags.copy_(bad, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        self._pending.append((step, flags, done, what))
        self.poll(model, wait=False)

    def poll(self, model: nn.Module, wait: bool) -> None:
        """Read the flags of earlier CUDA checks whose copy has finished (all of them if ``wait``)."""
        while self._pending:
            step, flags, done, what = self._pending[0]
            if wait:
                done.synchronize()
            elif not done.query():
                return
            self._pending.pop(0)
            self._raise_if_bad(flags, step, model, None, what)

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
    for name, parameter in model.named_parameters():
        if not torch.isfinite(parameter.detach()).all():
            return (
                f"the model's parameter {name!r} is NaN/inf: training diverged, or an earlier batch held NaN/inf "
                "inputs; lower the learning rate or check the training data"
            )
    for name, buffer in model.named_buffers():
        if buffer.is_floating_point() and not torch.isfinite(buffer.detach()).all():
            return f"the model's buffer {name!r} (e.g. BatchNorm statistics) is NaN/inf; check the data"
    where = "the inputs and " if inputs is not None else ""
    return (
        f"{where}the parameters are finite, so the attribution overflowed in float32 (very large activations "
        "or logits); raise challenger_epsilon or scale the inputs"
    )
