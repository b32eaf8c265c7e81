"""VGG11 / VGG16 for small images (MNIST 28x28, CIFAR-10 32x32), as in the Challenger paper.

Feature stacks are torchvision's configurations "A" (VGG11) and "D" (VGG16): 3x3
convolutions with padding 1, ReLU, optional BatchNorm2d between the convolution and
the ReLU, and 2x2 max-pooling with stride 2 after each of the five stages::

    A: 64 M 128 M 256 256 M 512 512 M 512 512 M
    D: 64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M

Small images: an image side that is not a multiple of 32 is zero-padded up to the next
multiple of 32 (28 -> 32: two pixels per border). The padding is folded into the first
convolution (padding ``1 + 2`` instead of ``1``), which computes exactly the same as
padding the input and keeps every layer a supported LRP leaf; relevance stays shaped like
the unpadded input. After five poolings a 32x32 image is a 1x1 map of 512 channels (a
64x64 image a 2x2 map), so the classifier is torchvision's three-layer head resized to
that map: ``Flatten``, ``Linear(512 * s * s, 512)``, ReLU, Dropout,
``Linear(512, 512)``, ReLU, Dropout, ``Linear(512, num_labels)`` with ``s`` the final
map side. There is no adaptive average pooling to 7x7 (torchvision's ImageNet head).

BatchNorm and dropout are off by default: the paper's models are unregularised.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput

from .initialization import init
from .checks import (
    check_bool,
    check_num_labels,
    check_positive_int,
    check_probability,
    check_problem_type,
)
from .loss import classification_loss

#: torchvision's VGG layer configurations by depth; "M" is a 2x2 max-pool.
VGG_LAYERS: dict[int, tuple[int | str, ...]] = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
}
_DOWNSAMPLING = 32  # five 2x2 poolings


class VGGConfig(PretrainedConfig):
    """Configuration of :class:`VGGForImageClassification`.

    Args:
        depth: 11 (torchvision configuration "A") or 16 (configuration "D").
        num_channels: input channels, e.g. 1 (MNIST) or 3 (CIFAR-10).
        image_size: side of the square input in pixels (28 or 32 for the paper's data);
            sides that are not a multiple of 32 are zero-padded up to one inside the
            first convolution. Must be even when padding is needed.
        use_batch_norm: insert ``BatchNorm2d`` after every convolution (off: the paper's
            models are unregularised).
        dropout: dropout probability in the classifier, in ``[0, 1)`` (0: off).
        classifier_hidden_size: width of the two hidden classifier layers (512).
        base_width: channels of the first stage; later stages use 2x, 4x, 8x, 8x of it.
            64 is the standard VGG; smaller values give cheap models for tests.
        num_labels: number of classes (10 unless ``id2label`` says otherwise).
        kwargs: passed to :class:`transformers.PretrainedConfig` (``id2label``,
            ``problem_type`` ...).
    """

    model_type = "challenger-vgg"

    def __init__(
        self,
        depth: int = 11,
        num_channels: int = 3,
        image_size: int = 32,
        use_batch_norm: bool = False,
        dropout: float = 0.0,
        classifier_hidden_size: int = 512,
        base_width: int = 64,
        **kwargs: Any,
    ) -> None:
        if "num_labels" not in kwargs and kwargs.get("id2label") is None:
            kwargs["num_labels"] = 10
        if depth not in VGG_LAYERS:
            raise ValueError(f"depth={depth!r} is not supported; allowed: {sorted(VGG_LAYERS)}")
        check_positive_int("num_channels", num_channels)
        check_positive_int("image_size", image_size)
        check_positive_int("classifier_hidden_size", classifier_hidden_size)
        check_positive_int("base_width", base_width)
        if (-image_size) % _DOWNSAMPLING % 2:
            raise ValueError(
                f"image_size={image_size} needs an odd amount of padding to reach a multiple of "
                f"{_DOWNSAMPLING}; use an even image size (e.g. 28 or 32)"
            )
        check_bool("use_batch_norm", use_batch_norm)
        check_probability("dropout", dropout)
        self.depth = depth
        self.num_channels = num_channels
        self.image_size = image_size
        self.use_batch_norm = use_batch_norm
        self.dropout = float(dropout)
        self.classifier_hidden_size = classifier_hidden_size
        self.base_width = base_width
        super().__init__(**kwargs)
        check_problem_type(self.problem_type)
        check_num_labels(self.num_labels, self.problem_type)

    @property
    def padded_size(self) -> int:
        """Image side after zero-padding to a multiple of 32."""
        return self.image_size + (-self.image_size) % _DOWNSAMPLING

    @property
    def feature_map_size(self) -> int:
        """Side of the last feature map (1 for 28x28 and 32x32 inputs)."""
        return self.padded_size // _DOWNSAMPLING


class VGGPreTrainedModel(PreTrainedModel):
    """Weight initialisation as torchvision's VGG: Kaiming-normal (fan-out, ReLU) for
    convolutions, N(0, 0.01) for linear layers, zero biases, BatchNorm at identity."""

    config_class = VGGConfig
    base_model_prefix = "vgg"
    main_input_name = "pixel_values"
    input_modalities = "image"

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=0.01)
            init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)


class VGGForImageClassification(VGGPreTrainedModel):
    """VGG11/VGG16 classifier for small images (see the module docstring for the layers).

    Children: ``features`` (``nn.Sequential`` of Conv2d/BatchNorm2d/ReLU/MaxPool2d) and
    ``classifier`` (``nn.Sequential`` of Flatten/Linear/ReLU/Dropout); every layer is a
    module, so LRP hooks see all of them.
    """

    def __init__(self, config: VGGConfig) -> None:
        super().__init__(config)
        self.features = _feature_stack(config)
        flat = 8 * config.base_width * config.feature_map_size**2
        hidden = config.classifier_hidden_size
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, hidden),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(hidden, config.num_labels),
        )
        self.post_init()

    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None
    ) -> ImageClassifierOutput:
        """Classify images.

        Args:
            pixel_values: float ``[B, num_channels, image_size, image_size]``.
            labels: ``[B]`` class indices, or ``[B, num_labels]`` targets in [0, 1] when
                ``config.problem_type == "multi_label_classification"``.

        Returns:
            ``ImageClassifierOutput`` with ``logits`` ``[B, num_labels]`` and, given
            labels, the mean ``loss``.
        """
        expected = (self.config.num_channels, self.config.image_size, self.config.image_size)
        if pixel_values.dim() != 4 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(
                f"pixel_values must have shape [batch, {expected[0]}, {expected[1]}, {expected[2]}] "
                f"(num_channels, image_size, image_size of the config), got {tuple(pixel_values.shape)}"
            )
        logits = self.classifier(self.features(pixel_values))
        loss = None if labels is None else classification_loss(logits, labels, self.config.problem_type)
        return ImageClassifierOutput(loss=loss, logits=logits)


def _feature_stack(config: VGGConfig) -> nn.Sequential:
    """Conv/BN/ReLU/MaxPool stack of the configured depth; padding to a multiple of 32 is
    folded into the first convolution."""
    layers: list[nn.Module] = []
    in_channels = config.num_channels
    extra_padding = (config.padded_size - config.image_size) // 2
    for item in VGG_LAYERS[config.depth]:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        out_channels = int(item) * config.base_width // 64
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1 + extra_padding))
        extra_padding = 0
        if config.use_batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU())
        in_channels = out_channels
    return nn.Sequential(*layers)

