"""How the engine reaches a model: through training wrappers, to its logits, and which models no pass can attribute."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from .errors import UnsupportedLayerError

# Where a mapping output holds the logits: ``logits``, or the names of transformers' time-series
# classifiers (PatchTST ``prediction_logits``, PatchTSMixer ``prediction_outputs``).
_LOGIT_KEYS = ("logits", "prediction_logits", "prediction_outputs")


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module the wrappers of training engines hold (any depth): ``DistributedDataParallel``,
    ``DataParallel`` and DeepSpeed's engine (``.module``), and ``torch.compile``'s wrapper (``._orig_mod``).

    FSDP2 (``fully_shard``) and DeepSpeed ZeRO-3 manage parameters through hooks on the modules
    themselves, so the module returned runs with them."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif isinstance(model.__dict__.get("_modules", {}).get("_orig_mod"), nn.Module):
            model = model._orig_mod  # torch.compile's OptimizedModule
        elif type(model).__name__ == "DeepSpeedEngine" and isinstance(getattr(model, "module", None), nn.Module):
            model = model.module
        else:
            return model


def extract_logits(output: Any) -> Tensor:
    """Logits ``[B, C]`` from a tensor, a tuple/list (first item), or a mapping/ModelOutput with ``logits``
    (or a time-series classifier's ``prediction_logits``/``prediction_outputs``)."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, Mapping):  # transformers' ModelOutput is an OrderedDict
        for key in _LOGIT_KEYS:
            if key in output:
                return output[key]
        raise ValueError(
            f"the model returned a mapping with keys {sorted(output)}; EpsilonLRP needs a 'logits' entry"
        )
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    raise TypeError(
        f"cannot read logits from a model output of type {type(output).__name__}; "
        "return a tensor, a tuple whose first item is the logits, or a mapping/ModelOutput with 'logits'"
    )


# Models whose forward cannot run an eval-mode pass with a backward, by ``config.model_type``.
_EVAL_BACKWARD_REFUSED = {
    "reformer": "its reversible layers compute their backward only in training mode, and the LRP pass runs "
    "in eval mode (dropout off, BatchNorm statistics frozen)",
}


def refuse_known_limits(model: nn.Module) -> None:
    """Refuse, when the engine is built, a model that no pass can attribute (an error saying why and what
    to use instead)."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type in _EVAL_BACKWARD_REFUSED:
        raise UnsupportedLayerError(
            f"EpsilonLRP cannot attribute {type(model).__name__}: {_EVAL_BACKWARD_REFUSED[model_type]}. Train it "
            "with challenger_selection='random' (no attribution pass), or attribute another model"
        )
