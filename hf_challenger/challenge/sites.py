"""Where Challenger attributes and perturbs: a batch tensor, or a submodule's output."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

Edit = Callable[[Tensor], Tensor]


class InputSite:
    """The batch tensor under ``key`` (e.g. ``pixel_values`` ``[B, C, H, W]``, ``input_values``).

    Only floating-point tensors can be perturbed; token ids need ``attribution_target="embeddings"``.
    """

    def __init__(self, key: str) -> None:
        self.key = key

    def tensor(self, inputs: Mapping[str, Any]) -> Tensor:
        """The attributed tensor of ``inputs``; raises ``KeyError``/``TypeError`` naming the key."""
        if self.key not in inputs:
            raise KeyError(
                f"the batch has no key {self.key!r} to attribute (keys: {sorted(inputs)}); set "
                "challenger_input_key to the model input"
            )
        value = inputs[self.key]
        if not torch.is_tensor(value) or not value.is_floating_point():
            dtype = value.dtype if torch.is_tensor(value) else type(value).__name__
            raise TypeError(
                f"batch key {self.key!r} holds {dtype}, not a floating-point tensor: it cannot be perturbed; "
                "for token ids use attribution_target='embeddings'"
            )
        return value

    @contextmanager
    def editing(self, inputs: Mapping[str, Any], edit: Edit) -> Iterator[dict[str, Any]]:
        """Yield a copy of ``inputs`` whose ``key`` tensor is ``edit(tensor)``."""
        edited = dict(inputs)
        edited[self.key] = edit(self.tensor(inputs))
        yield edited

    def remove(self) -> None:
        """Nothing to detach (an input site registers no hook)."""


class ModuleSite:
    """The output of ``module`` (e.g. the ``nn.Embedding`` of a text model, ``[B, L, D]``).

    One forward hook is registered at construction and kept; it is inert (returns ``None``) unless
    an edit is installed with :meth:`editing`, so evaluation and prediction never see a change.
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self._edit: Edit | None = None
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        if self._edit is None:
            return None
        if not torch.is_tensor(output):
            raise TypeError(
                f"Challenger can only perturb a module that returns a tensor; {type(module).__name__} returned "
                f"{type(output).__name__}"
            )
        return self._edit(output)

    @contextmanager
    def editing(self, inputs: Mapping[str, Any], edit: Edit) -> Iterator[Mapping[str, Any]]:
        """Within the block every output of the module is replaced by ``edit(output)``."""
        if self._edit is not None:
            raise RuntimeError(f"an edit of {type(self.module).__name__} is already active")
        self._edit = edit
        try:
            yield inputs
        finally:
            self._edit = None

    def remove(self) -> None:
        """Detach the hook (the site is unusable afterwards)."""
        self._handle.remove()
