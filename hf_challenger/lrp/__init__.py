"""Epsilon-rule layer-wise relevance propagation (LRP) for PyTorch classifiers.

>>> lrp = EpsilonLRP(model, epsilon=1e-6)
>>> relevance = lrp.attribute(pixel_values, targets)            # [B, C, H, W]
>>> relevance = lrp.attribute(batch, targets, at=model.get_input_embeddings())  # [B, L, D]
"""

from .engine import Attribution, EpsilonLRP
from .model_access import extract_logits, unwrap_model
from .errors import UnsupportedLayerError
from .functional_rules import ATTENTION_RULES
from .layer_map import LayerMap, default_layer_map
from .rules import EpsilonRule, GradientRule, IdentityRule, MergedBatchNormRule, Rule

__all__ = [
    "Attribution",
    "EpsilonLRP",
    "EpsilonRule",
    "GradientRule",
    "IdentityRule",
    "ATTENTION_RULES",
    "LayerMap",
    "MergedBatchNormRule",
    "Rule",
    "UnsupportedLayerError",
    "default_layer_map",
    "extract_logits",
    "unwrap_model",
]
