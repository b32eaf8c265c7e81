"""The epsilon-LRP engine: one forward with the rules attached, one backward of the target logits."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from .functional_rules import ATTENTION_RULES, RuleMode, Scope
from .layer_map import LayerMap, default_layer_map, is_normalisation, rule_for
from .model_access import extract_logits, refuse_known_limits, unwrap_model
from .modes import frozen_eval
from .rules import PassState, Rule

TargetSelector = Callable[[Tensor], Tensor]
_LABEL_KEYS = ("labels", "label")


class Attribution(NamedTuple):
    """Result of :meth:`EpsilonLRP.attribute_with_logits`.

    - ``relevance``: shaped like the attributed tensor, e.g. ``[B, C, H, W]`` or ``[B, L, D]``.
    - ``logits``: ``[B, num_classes]`` from the attribution forward (eval mode, detached).
    - ``targets``: ``[B]`` int64, the class whose logit each row's relevance explains.
    """

    relevance: Tensor
    logits: Tensor
    targets: Tensor


class EpsilonLRP:
    """Epsilon-rule layer-wise relevance propagation, computed as one modified backward pass.

    The pass runs the model as it is held for training: its own parameters, never copies, so an
    engine that manages them (DeepSpeed ZeRO-3 gathering, FSDP2 unshard/reshard) does for the pass
    what it does for any forward and backward. The engine's hooks and its torch function mode exist
    only during :meth:`attribute`: registered per call, they run after the hooks of an engine that took
    the model later (FSDP2 and ZeRO-3 add theirs when they wrap it), and a compiled training forward
    never traces them. During a call the model runs in eval mode (BatchNorm uses its
    running statistics and does not update them, dropout is off), eagerly (a ``torch.compile`` wrapper
    is bypassed), with autocast disabled (also inside Accelerate's mixed-precision ``forward``
    wrapper), in float32 (a half-precision weight is cast for the call that uses it, as autocast does,
    never the whole model at once; a float64 model stays float64). Gradients are taken with
    :func:`torch.autograd.grad` for the attributed tensor only, so no parameter ``.grad`` is touched
    and no gradient is reduced. Module modes and ``inplace`` flags are restored afterwards.

    Module rules (:mod:`~hf_challenger.lrp.layer_map`) cover Linear/Conv/Conv1D, pooling, BatchNorm and
    activation modules; every other module is traversed and the calls in its forward get the rules
    of :mod:`~hf_challenger.lrp.functional_rules` (attention, normalisation, products, softmax),
    through a torch function mode that exists only during the call.

    Args:
        model: the classifier, possibly wrapped in ``DistributedDataParallel``/``DataParallel``, a
            DeepSpeed engine or ``torch.compile`` (the inner module is used, so no DDP reducer is
            involved; see :func:`unwrap_model`).
        epsilon: the stabiliser ``eps > 0`` of the rule ``z / (z + eps * sign(z))``.
        attention_rule: ``"attnlrp"`` (AttnLRP, Achtibat et al. 2024: products of two activations split
            relevance half and half, softmax keeps its gradient) or ``"cp"`` (CP-LRP, Ali et al. 2022:
            attention weights and activation gates are constants).
        unknown_layers: ``"error"`` (default) refuses a call with no rule on an activation, naming the
            module it runs in; ``"gradient"`` lets relevance flow through it as the gradient.
        layer_map: ordered ``(module types, rule)`` list; defaults to
            :func:`hf_challenger.lrp.layer_map.default_layer_map`.
    """

    def __init__(
        self,
        model: nn.Module,
        epsilon: float = 1e-6,
        attention_rule: Literal["attnlrp", "cp"] = "attnlrp",
        unknown_layers: Literal["error", "gradient"] = "error",
        layer_map: LayerMap | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not 0 < epsilon < float("inf"):
            raise ValueError(f"epsilon must be a finite number > 0, got {epsilon!r}")
        if attention_rule not in ATTENTION_RULES:
            raise ValueError(f"attention_rule must be 'attnlrp' or 'cp', got {attention_rule!r}")
        if unknown_layers not in ("error", "gradient"):
            raise ValueError(f"unknown_layers must be 'error' or 'gradient', got {unknown_layers!r}")
        self.model = unwrap_model(model)
        refuse_known_limits(self.model)
        self.epsilon = float(epsilon)
        self.attention_rule = attention_rule
        self.unknown_layers = unknown_layers
        self._state: PassState | None = None
        self._scope = Scope()
        self._snapshot: frozenset[str] = frozenset()
        self._origins: dict[tuple, tuple[float, float]] = {}
        self._attributed: Tensor | None = None
        self._handles: list[RemovableHandle] = []
        self._inplace_modules = [m for m in self.model.modules() if getattr(m, "inplace", False) is True]
        self._layer_map = layer_map if layer_map is not None else default_layer_map()
        #: Rule classes of the calls of the last pass (``"linear"``, ``"identity"``, ``"product"``,
        #: ``"statistic"``, ``"attention"``, ``"in-place"``), module rules aside.
        self.rules_met: set[str] = set()

    # ------------------------------------------------------------------ hooks (only during a pass)

    def _register(self, at: nn.Module | None) -> None:
        """Per module: enter the scope, the rule's pre-hook; the rule's hook, leave the scope; and the
        hook that makes ``at``'s output the attributed tensor."""
        for name, module in self.model.named_modules():
            rule = rule_for(module, self._layer_map)
            kind = "opaque" if rule is not None else ("norm" if is_normalisation(module) else "plain")
            self._handles.append(module.register_forward_pre_hook(self._enter_hook(name, kind), with_kwargs=True))
            if rule is not None:
                self._handles.append(module.register_forward_pre_hook(self._pre_hook(rule)))
                self._handles.append(module.register_forward_hook(self._post_hook(name, rule)))
            self._handles.append(module.register_forward_hook(self._leave_hook(kind), always_call=True))
        if at is not None:
            self._handles.append(at.register_forward_hook(self._at_hook))

    def _enter_hook(self, name: str, kind: str):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            if self._state is None:
                return
            self._state.activations.adopt(args)
            self._state.activations.adopt(kwargs)
            scope = self._scope
            scope.names.append(name)
            scope.modules.append(module)
            scope.opaque += kind == "opaque"
            scope.norm += kind == "norm"

        return hook

    def _leave_hook(self, kind: str):
        def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
            if self._state is None or not self._scope.modules:
                return
            self._state.activations.adopt(output)
            scope = self._scope
            scope.names.pop()
            scope.modules.pop()
            scope.opaque -= kind == "opaque"
            scope.norm -= kind == "norm"

        return hook

    def _pre_hook(self, rule: Rule):
        def hook(module: nn.Module, inputs: tuple) -> tuple | None:
            return None if self._state is None else rule.on_input(module, inputs, self._state)

        return hook

    def _post_hook(self, name: str, rule: Rule):
        def hook(module: nn.Module, inputs: tuple, output: Any) -> Tensor | None:
            if self._state is None:
                return None
            self._state.activations.adopt(output)
            return rule.on_output(name, module, output, self._state)

        return hook

    def _at_hook(self, module: nn.Module, inputs: tuple, output: Any) -> Any:
        """Make ``at``'s output (a tensor, or the first item of a tuple: I-BERT's quantised embedding
        returns ``(values, scale)``) the attributed tensor."""
        if self._state is None:
            return None
        value = output[0] if isinstance(output, tuple) and output else output
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise TypeError(
                f"the module given as at= ({type(module).__name__}) returned {type(output).__name__}, not a "
                "floating-point tensor or a tuple led by one"
            )
        attributed = value.detach().to(self._compute_dtype(value)).requires_grad_(True)
        self._attributed = self._state.activations.add(attributed)
        # The model gets a copy: it may edit the tensor in place (CTRL scales its embeddings with
        # ``*=``), which a leaf that requires grad does not allow.
        copy = self._state.activations.add(attributed.clone())
        return (copy, *output[1:]) if isinstance(output, tuple) else copy

    def remove(self) -> None:
        """Release the engine. Its hooks exist only while :meth:`attribute` runs, so the model carries
        none between calls; this method (and the context manager) is kept for code that calls it."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self) -> EpsilonLRP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # ------------------------------------------------------------------ public API

    def attribute(
        self,
        inputs: Tensor | Mapping[str, Any],
        targets: Tensor,
        at: nn.Module | None = None,
        input_key: str | None = None,
    ) -> Tensor:
        """Epsilon-LRP relevance of the attributed tensor for one target class per row.

        Args:
            inputs: the input tensor ``[B, ...]``, or a mapping passed as ``model(**inputs)``
                (``labels`` entries are not passed: the loss is not needed).
            targets: int64 ``[B]``, the class explained in each row.
            at: a submodule whose output is attributed (e.g. the ``nn.Embedding`` of a text model);
                default: the input tensor itself.
            input_key: with a mapping and ``at=None``, the key of the attributed input; default the
                model's ``main_input_name``.

        Returns:
            Relevance shaped like the attributed tensor (``[B, ...]``), in the compute dtype (float32,
            or float64 for a float64 model). Its sum per row is the target logit less what biases and
            epsilon absorb.
        """
        targets = self._check_targets(targets)

        def given(logits: Tensor) -> Tensor:
            if targets.shape[0] != logits.shape[0]:
                raise ValueError(f"targets has {targets.shape[0]} rows but the batch has {logits.shape[0]}")
            bad = (targets < 0) | (targets >= logits.shape[1])
            if bool(bad.any()):
                raise ValueError(
                    f"targets must lie in [0, {logits.shape[1] - 1}] (the model has {logits.shape[1]} "
                    f"outputs), got {targets[bad].tolist()}"
                )
            return targets.to(logits.device)

        return self.attribute_with_logits(inputs, given, at=at, input_key=input_key).relevance

    def attribute_with_logits(
        self,
        inputs: Tensor | Mapping[str, Any],
        select_targets: TargetSelector,
        at: nn.Module | None = None,
        input_key: str | None = None,
    ) -> Attribution:
        """Like :meth:`attribute`, with the targets chosen from the logits of the same forward.

        ``select_targets`` maps the logits ``[B, C]`` to int64 targets ``[B]`` (e.g. a class drawn from
        each row's top-K), so no separate prediction pass is needed.
        """
        for _ in range(2):  # a second forward only when an output was changed in place (see below)
            with self._attribution_mode(at):
                args, kwargs, attributed = self._prepare_inputs(inputs, at, input_key)
                logits = extract_logits(self._run(args, kwargs))
                if at is not None:
                    attributed = self._attributed
                    if attributed is None:
                        raise ValueError(f"the module given as at= ({type(at).__name__}) did not run in the forward")
                if logits.ndim != 2:
                    raise ValueError(f"EpsilonLRP needs logits shaped [batch, classes], got {tuple(logits.shape)}")
                changed = self._changed_in_place()
                if changed - self._snapshot:
                    # e.g. a residual ``+=`` on a BatchNorm output: the rule needs the values before the
                    # change, so from now on these modules keep a copy of their outputs.
                    self._snapshot |= changed
                    continue
                targets = select_targets(logits.detach())
                targets = self._check_targets(targets, rows=logits.shape[0])
                chosen = logits.gather(1, targets[:, None]).sum()
                (grad,) = torch.autograd.grad(chosen, attributed)
                relevance = attributed.detach() * grad
                return Attribution(relevance, logits.detach(), targets)
        raise RuntimeError("EpsilonLRP: outputs kept changing in place between two identical forwards")

    # ------------------------------------------------------------------ internals

    def _run(self, args: tuple, kwargs: dict) -> Any:
        """The model's own forward under the rule mode, eagerly.

        Parameters and buffers are used as the model holds them (gathered or unsharded by the engine
        that owns them); the mode tells them from activations by following the attributed tensor
        (:mod:`~hf_challenger.lrp.activations`). Half-precision tensors are cast to the compute dtype
        call by call (``upcast``), so the weights of a bf16/fp16 model are never copied all at once.
        """
        mode = RuleMode(
            self._scope,
            self.epsilon,
            self.attention_rule,
            self.unknown_layers,
            self._origins,
            self._state.activations,
            # always: an engine may hand half-precision weights only while a module runs (FSDP2's
            # param_dtype), so the registered parameters do not tell
            upcast=self._compute_dtype(torch.empty(0, dtype=self._model_dtype())),
        )
        self._state.mode = mode
        self.rules_met = mode.met
        with _eager(), mode:
            return self.model(*args, **kwargs)

    @staticmethod
    def _compute_dtype(tensor: Tensor) -> torch.dtype:
        return torch.float64 if tensor.dtype == torch.float64 else torch.float32

    def _model_dtype(self) -> torch.dtype:
        """The dtype of the first floating-point parameter (float32 if none)."""
        for tensor in self.model.parameters():
            if tensor.is_floating_point():
                return tensor.dtype
        return torch.float32

    def _prepare_inputs(
        self, inputs: Tensor | Mapping[str, Any], at: nn.Module | None, input_key: str | None
    ) -> tuple[tuple, dict, Tensor | None]:
        dtype = self._compute_dtype(torch.empty(0, dtype=self._model_dtype()))
        if isinstance(inputs, Tensor):
            if at is None:
                if not inputs.is_floating_point():
                    raise TypeError(
                        f"cannot attribute an input of dtype {inputs.dtype}; for token ids pass "
                        "at=model.get_input_embeddings() to attribute the embedding output"
                    )
                attributed = inputs.detach().to(dtype).requires_grad_(True)
                return (attributed,), {}, self._state.activations.add(attributed)
            return (self._cast(inputs, dtype),), {}, None
        if not isinstance(inputs, Mapping):
            raise TypeError(f"inputs must be a tensor or a mapping of model inputs, got {type(inputs).__name__}")
        kwargs = {k: self._cast(v, dtype) for k, v in inputs.items() if k not in _LABEL_KEYS}
        if at is not None:
            return (), kwargs, None
        key = input_key or getattr(self.model, "main_input_name", None)
        if key not in kwargs:
            raise KeyError(
                f"attributed input key {key!r} is not among the inputs {sorted(kwargs)}; "
                "pass input_key=... (or at=... for a module's output)"
            )
        if not kwargs[key].is_floating_point():
            raise TypeError(
                f"cannot attribute input {key!r} of dtype {kwargs[key].dtype}; for token ids pass "
                "at=model.get_input_embeddings() to attribute the embedding output"
            )
        kwargs[key] = self._state.activations.add(kwargs[key].detach().requires_grad_(True))
        return (), kwargs, kwargs[key]

    @staticmethod
    def _cast(value: Any, dtype: torch.dtype) -> Any:
        if isinstance(value, Tensor) and value.is_floating_point():
            return value.detach().to(dtype)
        return value

    def _check_targets(self, targets: Tensor, rows: int | None = None) -> Tensor:
        if not isinstance(targets, Tensor) or targets.dtype != torch.int64 or targets.ndim != 1:
            described = (
                f"a tensor of dtype {targets.dtype} and shape {tuple(targets.shape)}"
                if isinstance(targets, Tensor)
                else type(targets).__name__
            )
            raise TypeError(f"targets must be an int64 tensor shaped [batch] (one class per row), got {described}")
        if rows is not None and targets.shape[0] != rows:
            raise ValueError(f"targets has {targets.shape[0]} rows but the batch has {rows}")
        return targets

    def _changed_in_place(self) -> frozenset[str]:
        """Names of modules whose scaled outputs were modified in place after they ran."""
        return frozenset(name for name, output, version in self._state.watched if output._version != version)

    @contextlib.contextmanager
    def _attribution_mode(self, at: nn.Module | None) -> Iterator[None]:
        model = self.model
        if self._state is not None:
            raise RuntimeError("EpsilonLRP.attribute is not re-entrant: a pass is already running")
        if at is not None and not any(m is at for m in model.modules()):
            raise ValueError(f"at= must be a submodule of the model, got {type(at).__name__}")
        self._attributed = None
        self._scope = Scope()
        self._state = PassState(self.epsilon, snapshot=self._snapshot)
        try:
            self._register(at)
            for m in self._inplace_modules:
                m.inplace = False
            with frozen_eval(model):
                yield
        finally:
            self.remove()
            self._state = None
            self._attributed = None
            self._scope = Scope()
            for m in self._inplace_modules:
                m.inplace = True


def _eager() -> contextlib.AbstractContextManager:
    """Compiled regions run eagerly inside the block (the rules are Python): ``torch.compile``'s
    ``force_eager`` stance, restored on exit."""
    set_stance = getattr(torch.compiler, "set_stance", None)
    return set_stance("force_eager") if set_stance is not None else contextlib.nullcontext()
