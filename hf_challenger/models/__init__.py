"""Models of the Challenger paper as transformers ``PreTrainedModel`` classes.

Importing this package registers each configuration with ``AutoConfig`` and each model
with its Auto class, so a folder written by ``save_pretrained`` (or a Hub repository) loads
without naming the class. Taking any name from ``hf_challenger`` imports it first; a bare
``import hf_challenger`` does not (it stays free of torch):

- :class:`VGGForImageClassification` (``model_type`` ``challenger-vgg``):
  ``AutoModelForImageClassification``.
- :class:`TextCNNForSequenceClassification` (``challenger-text-cnn``):
  ``AutoModelForSequenceClassification``.
- :class:`FCNWangForECGClassification` (``challenger-fcn-wang``):
  ``AutoModelForAudioClassification``.

fcn_wang is registered with ``AutoModelForAudioClassification``: like audio classifiers
it classifies a multi-channel 1-D signal given as ``input_values``, and that is the
transformers Auto class with that input; there is no ECG-specific one.
Registration is idempotent: importing again (or reloading) replaces the entries.
"""

from transformers import (
    AutoConfig,
    AutoModelForAudioClassification,
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
)

from .fcn_wang import ConcatPool1d, FCNWangConfig, FCNWangForECGClassification, FCNWangPreTrainedModel
from .text_cnn import TextCNNConfig, TextCNNForSequenceClassification, TextCNNPreTrainedModel
from .vgg import VGGConfig, VGGForImageClassification, VGGPreTrainedModel

_AUTO_MODELS = (
    (VGGConfig, VGGForImageClassification, AutoModelForImageClassification),
    (TextCNNConfig, TextCNNForSequenceClassification, AutoModelForSequenceClassification),
    (FCNWangConfig, FCNWangForECGClassification, AutoModelForAudioClassification),
)


def register_auto_classes() -> None:
    """Register every model here with ``AutoConfig`` and its Auto model class (idempotent)."""
    for config_class, model_class, auto_class in _AUTO_MODELS:
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        auto_class.register(config_class, model_class, exist_ok=True)


register_auto_classes()

__all__ = [
    "ConcatPool1d",
    "FCNWangConfig",
    "FCNWangForECGClassification",
    "FCNWangPreTrainedModel",
    "TextCNNConfig",
    "TextCNNForSequenceClassification",
    "TextCNNPreTrainedModel",
    "VGGConfig",
    "VGGForImageClassification",
    "VGGPreTrainedModel",
    "register_auto_classes",
]
