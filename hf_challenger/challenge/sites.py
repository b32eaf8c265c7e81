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

    Under ``torch.compile`` the hook is traced with the rest of the forward: it reads one bool, and
    the edit itself runs eagerly (``torch.compiler.disable``), so the compiled graphs do not depend
    on the edit of a step (no recompilation per step; one graph with the edit, one without).
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self._edit: Edit | None = None
        self._active = False
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        if not self._active:
            return None
        return self._apply(output)

    @torch.compiler.disable
    def _apply(self, output: Any) -> Tensor:
        module = self.module
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
        self._edit, self._active = edit, True
        try:
            yield inputs
        finally:
            self._edit, self._active = None, False

    def remove(self) -> None:
        """Detach the hook (the site is unusable afterwards)."""
        self._handle.remove()


def input_key_of(model: nn.Module, inputs: Mapping[str, Any], label_keys: set[str], key: str | None = None) -> str:
    """The batch key of the model input: ``key`` if given, else ``model.main_input_name``, else the
    batch's only floating-point tensor besides ``label_keys`` (an error naming them otherwise)."""
    if key or getattr(model, "main_input_name", None):
        return key or model.main_input_name
    keys = [k for k, v in inputs.items() if k not in label_keys and torch.is_tensor(v) and v.is_floating_point()]
    if len(keys) != 1:
        raise ValueError(
            "the model has no main_input_name and the batch holds "
            f"{len(keys)} floating-point tensors besides the labels ({sorted(keys)}); set "
            "challenger_input_key to the batch key of its input"
        )
    return keys[0]


def attributed_module(model: nn.Module, target: str) -> nn.Module | None:
    """The module whose output is attributed for ``attribution_target`` ``target``: ``None`` for
    ``"input"``, ``model.get_input_embeddings()`` for ``"embeddings"``, else the submodule of that
    dotted name (an error naming the target and some submodules if there is none)."""
    if target == "input":
        return None
    if target == "embeddings":
        get = getattr(model, "get_input_embeddings", None)
        module = get() if callable(get) else None
        if not isinstance(module, nn.Module):
            raise ValueError(
                "attribution_target='embeddings' needs model.get_input_embeddings() to return a module; "
                f"{type(model).__name__} has none: give the module's dotted name instead"
            )
        return module
    try:
        return model.get_submodule(target)
    except AttributeError:
        names = [name for name, _ in model.named_modules() if name][:20]
        raise ValueError(
            f"attribution_target {target!r} is neither 'input', 'embeddings' nor a submodule of "
            f"{type(model).__name__} (submodules include: {names})"
        ) from None
