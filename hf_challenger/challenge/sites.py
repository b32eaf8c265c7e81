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
    A module returning a tuple (I-BERT's quantised embedding: ``(values, scale)``) is edited in its
    first item. A sequence-first output ``[L, B, D]`` (XLNet transposes its ids before embedding
    them) is handed to the edit batch-first, ``[B, L, D]``, and turned back: the layout is read by
    comparing the output with the batch tensor under :attr:`key` (see :func:`sequence_first`).

    Under ``torch.compile`` the hook is traced with the rest of the forward: it reads one bool, and
    the edit itself runs eagerly (``torch.compiler.disable``), so the compiled graphs do not depend
    on the edit of a step (no recompilation per step; one graph with the edit, one without).
    """

    def __init__(self, module: nn.Module, key: str | None = None) -> None:
        self.module = module
        self.key = key
        self._edit: Edit | None = None
        self._active = False
        self._batch_shape: tuple[int, ...] | None = None
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        if not self._active:
            return None
        return self._apply(output)

    @torch.compiler.disable
    def _apply(self, output: Any) -> Any:
        module = self.module
        value = output[0] if isinstance(output, tuple) and output else output
        if not torch.is_tensor(value):
            raise TypeError(
                f"Challenger can only perturb a module that returns a tensor (or a tuple led by one); "
                f"{type(module).__name__} returned {type(output).__name__}"
            )
        if sequence_first(value, self._batch_shape):
            edited = self._edit(value.transpose(0, 1)).transpose(0, 1)
        else:
            edited = self._edit(value)
        return (edited, *output[1:]) if isinstance(output, tuple) else edited

    @contextmanager
    def editing(self, inputs: Mapping[str, Any], edit: Edit) -> Iterator[Mapping[str, Any]]:
        """Within the block every output of the module is replaced by ``edit(output)``."""
        if self._edit is not None:
            raise RuntimeError(f"an edit of {type(self.module).__name__} is already active")
        batch = inputs.get(self.key) if self.key is not None else None
        self._batch_shape = tuple(batch.shape) if torch.is_tensor(batch) else None
        self._edit, self._active = edit, True
        try:
            yield inputs
        finally:
            self._edit, self._active = None, False

    def remove(self) -> None:
        """Detach the hook (the site is unusable afterwards)."""
        self._handle.remove()


def sequence_first(value: Tensor, batch_shape: tuple[int, ...] | None) -> bool:
    """Whether ``value`` (a module output) is laid out ``[L, B, ...]`` for a batch tensor of shape
    ``batch_shape`` ``[B, L]`` (e.g. ``input_ids``): its leading dimensions are ``(L, B)`` and not
    ``(B, L)``. With ``B == L`` the layout cannot be told from the shapes; batch-first is assumed."""
    if batch_shape is None or len(batch_shape) < 2 or value.dim() < 2:
        return False
    rows, length = batch_shape[0], batch_shape[1]
    return rows != length and tuple(value.shape[:2]) == (length, rows)


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
    ``"input"``, :func:`input_embeddings` for ``"embeddings"``, else the submodule of that dotted name
    (an error naming the target and some submodules if there is none)."""
    if target == "input":
        return None
    if target == "embeddings":
        return input_embeddings(model)
    try:
        return model.get_submodule(target)
    except AttributeError:
        names = [name for name, _ in model.named_modules() if name][:20]
        raise ValueError(
            f"attribution_target {target!r} is neither 'input', 'embeddings' nor a submodule of "
            f"{type(model).__name__} (submodules include: {names})"
        ) from None


def input_embeddings(model: nn.Module) -> nn.Module:
    """The token embedding module that runs on the model's input ids.

    For an encoder-decoder (T5, BART, mBART, PLBart ...) that is the encoder's own embedding module
    (``model.get_encoder().get_input_embeddings()``): ``model.get_input_embeddings()`` there is the
    shared table, which the encoder does not call itself. Otherwise ``model.get_input_embeddings()``.

    Raises:
        ValueError: the model has no embedding module (Canine, Perceiver ...): the message says to set
            ``challenger_attribution_target`` to a module name and lists the candidates.
    """
    candidates = []
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        encoder = _call(model, "get_encoder")
        if isinstance(encoder, nn.Module):
            candidates.append(_call(encoder, "get_input_embeddings"))
    candidates.append(_call(model, "get_input_embeddings"))
    owned = {id(module) for module in model.modules()}
    for module in candidates:
        if isinstance(module, nn.Module) and id(module) in owned:
            return module
    named = [name for name, module in model.named_modules() if name and "embed" in name.rsplit(".", 1)[-1].lower()]
    raise ValueError(
        f"attribution_target='embeddings' needs the token embedding module, and {type(model).__name__} has none "
        "(get_input_embeddings() gives no module of the model): set challenger_attribution_target to the dotted "
        f"name of the module whose output [batch, length, width] should be attributed and perturbed (candidates: "
        f"{named[:8]}), or to 'input' for a floating-point model input"
    )


def _call(owner: nn.Module, method: str) -> Any:
    """``owner.method()``, or ``None`` where the method is missing or not implemented."""
    function = getattr(owner, method, None)
    if not callable(function):
        return None
    try:
        return function()
    except (NotImplementedError, AttributeError):
        return None
