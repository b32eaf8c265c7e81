"""Which tensors of an attribution forward are activations: those that depend on the attributed tensor.

The rules need to tell activations (relevance flows through them) from weights (constants of the
explanation). That is decided by what a tensor *is*, not by ``requires_grad``: the model's own
parameters require grad, and under DeepSpeed ZeRO-3 or FSDP2 they are gathered, cast and swapped by
the engine that owns them, so the pass runs on them as they are and never on copies. Instead the pass
follows the data: the attributed tensor is the first activation, and the result of every call with an
activation among its inputs is one too, as long as autograd connects it (a ``detach``, an integer
result or a value computed under ``no_grad`` is a constant). Parameters, buffers and everything
computed from them alone (position embeddings, rotary tables, attention masks) never are.

:class:`ActivationSet` holds them by identity with weak references, so it keeps no tensor alive and
exists only for one pass.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from torch import Tensor
from torch.multiprocessing.reductions import StorageWeakRef


class ActivationSet:
    """The activations of one attribution forward, by identity (weak references).

    Engines that manage parameters wrap the tensors entering or leaving their modules in identity
    autograd functions (FSDP2's post-backward registration on module inputs, DeepSpeed ZeRO-3's
    backward hooks on module outputs): the tensor handed on is a new object holding exactly the data
    of an activation. :meth:`adopt`, called at module boundaries, marks such tensors too.
    """

    def __init__(self) -> None:
        self._refs: dict[int, weakref.ref] = {}
        self._by_data: dict[tuple, StorageWeakRef] = {}

    def add(self, tensor: Tensor) -> Tensor:
        """Mark ``tensor`` as an activation (whatever its ``requires_grad``); returns it."""
        self._refs[id(tensor)] = weakref.ref(tensor)
        if tensor.data_ptr():
            # The Python object of an activation may be dropped while its data lives on in the
            # autograd graph (an engine's hook replaced it): remember the data by its storage.
            self._by_data[_data_key(tensor)] = StorageWeakRef(tensor.untyped_storage())
        return tensor

    def adopt(self, value: Any) -> None:
        """Mark the tensors in ``value`` (a tensor, a tuple/list, a mapping such as a ``ModelOutput`` or a
        call's keyword arguments) that require grad and hold exactly the data of a known activation."""
        if isinstance(value, Tensor):
            if value.requires_grad and value not in self and value.data_ptr():
                ref = self._by_data.get(_data_key(value))
                if ref is not None and not ref.expired():
                    self.add(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, Tensor):
                    self.adopt(item)
        elif isinstance(value, Mapping):
            for item in value.values():
                if isinstance(item, (Tensor, list, tuple)):
                    self.adopt(item)

    def __contains__(self, value: Any) -> bool:
        if not isinstance(value, Tensor):
            return False
        ref = self._refs.get(id(value))
        return ref is not None and ref() is value

    def any_in(self, args: Iterable[Any], kwargs: dict[str, Any]) -> bool:
        """Whether an argument, or an item of a list/tuple argument, is an activation."""
        for value in (*args, *kwargs.values()):
            if value in self:
                return True
            if isinstance(value, (list, tuple)) and any(item in self for item in value):
                return True
        return False

    def add_results(self, value: Any) -> None:
        """Mark the tensors of a call's result that autograd connects to its inputs (``requires_grad``);
        tuples and lists (``split``, ``var_mean``, ``max`` with indices) item by item."""
        if isinstance(value, Tensor):
            if value.requires_grad:
                self.add(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, Tensor) and item.requires_grad:
                    self.add(item)


def _data_key(tensor: Tensor) -> tuple:
    """What a tensor holds: its memory, layout and dtype (two tensors with one key hold the same values)."""
    return (tensor.device, tensor.data_ptr(), tuple(tensor.shape), tensor.stride(), tensor.dtype)
