"""Running a model for an extra pass (attribution, attack gradients) without touching training.

:func:`frozen_eval` puts the model in eval mode (BatchNorm uses and keeps its running statistics,
dropout is off), switches autocast off, and restores every module's mode afterwards.
"""

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
    """Eval mode, autocast off (also under Accelerate's patched forward), gradients enabled.

    Every module's ``training`` flag is restored on exit, so a model with mixed modes comes back as
    it was.
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
