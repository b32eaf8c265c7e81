"""Context managers for the extra passes of a Challenger step (attribution, attack gradients)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def native_forward(model: nn.Module) -> Iterator[None]:
    """Run ``model`` without the mixed-precision wrapper that Accelerate patches onto ``forward``.

    With ``bf16``/``fp16`` training, ``Accelerator.prepare`` replaces ``model.forward`` by a version
    that enters ``torch.autocast`` itself (keeping the original as ``model._original_forward``), so an
    outer ``autocast(enabled=False)`` would not hold. Inside this block the original forward is used;
    the patched one is put back on exit. A model without that patch is left alone.
    """
    patched = model.__dict__.get("forward")
    original = getattr(model, "_original_forward", None)
    if patched is None or original is None:
        yield
        return
    model.forward = original
    try:
        yield
    finally:
        model.forward = patched


@contextmanager
def frozen_eval(model: nn.Module) -> Iterator[None]:
    """Eval mode (no BatchNorm statistic update, no dropout) with autocast off; modes restored.

    Used by the FGSM/PGD attack passes; the LRP engine has its own equivalent.
    """
    modes = {module: module.training for module in model.modules()}
    device_type = next((p.device.type for p in model.parameters()), "cpu")
    try:
        model.eval()
        with native_forward(model), torch.autocast(device_type=device_type, enabled=False), torch.enable_grad():
            yield
    finally:
        for module, training in modes.items():
            module.training = training
