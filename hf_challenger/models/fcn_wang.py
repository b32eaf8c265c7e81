"""fcn_wang: the fully convolutional ECG classifier of the PTB-XL benchmark.

Wang et al.'s FCN as configured in Strodthoff et al., "Deep Learning for ECG Analysis:
Benchmarks and Insights from PTB-XL" (``fcn_wang``, with the benchmark's 128-unit head)::

    input_values [B, 12, T]
    Conv1d(12, 128, 8, padding=3, bias=False), BatchNorm1d(128), ReLU   -> [B, 128, T-1]
    Conv1d(128, 256, 5, padding=2, bias=False), BatchNorm1d(256), ReLU  -> [B, 256, T-1]
    Conv1d(256, 128, 3, padding=1, bias=False), BatchNorm1d(128), ReLU  -> [B, 128, T-1]
    ConcatPool: [AdaptiveMaxPool1d(1), AdaptiveAvgPool1d(1)] concatenated -> [B, 256, 1]
    Flatten, BatchNorm1d(256), Dropout(0.25), Linear(256, 128), ReLU,
    BatchNorm1d(128), Dropout(0.5), Linear(128, num_labels)           -> logits [B, num_labels]

The convolutions pad ``(kernel_size - 1) // 2`` per side as in the reference
implementation: "same" length for kernels 5 and 3, one step shorter for kernel 8. The
length is then pooled away, so any ``T >= 2`` works (:attr:`FCNWangConfig.min_time_steps`).
Every layer is a module (the pooling head's children are the two adaptive pools), so LRP
hooks see them all.

The default head is multi-label (``problem_type="multi_label_classification"``, BCE
with logits) over the 71 PTB-XL statements; set ``num_labels`` for the other tasks
(e.g. 5 for "superdiagnostic").
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from .checks import (
    MULTI_LABEL,
    check_num_labels,
    check_positive_int,
    check_probability,
    check_problem_type,
)
from .initialization import init
from .loss import classification_loss


class FCNWangConfig(PretrainedConfig):
    """Configuration of :class:`FCNWangForECGClassification`.

    Args:
        num_leads: input channels (12 ECG leads).
        filters: output channels of the three convolutions (128, 256, 128).
        kernel_sizes: widths of the three convolutions (8, 5, 3).
        head_hidden_size: width of the hidden linear layer of the head (128).
        head_dropout: dropout before the hidden linear layer, in ``[0, 1)`` (0.25).
        final_dropout: dropout before the output layer, in ``[0, 1)`` (0.5).
        num_labels: number of outputs (71 unless ``id2label`` says otherwise).
        problem_type: ``"multi_label_classification"`` by default (PTB-XL is multi-label);
            ``"single_label_classification"`` for one class per record.
        kwargs: passed to :class:`transformers.PretrainedConfig`.
    """

    model_type = "challenger-fcn-wang"

    def __init__(
        self,
        num_leads: int = 12,
        filters: tuple[int, ...] | list[int] = (128, 256, 128),
        kernel_sizes: tuple[int, ...] | list[int] = (8, 5, 3),
        head_hidden_size: int = 128,
        head_dropout: float = 0.25,
        final_dropout: float = 0.5,
        **kwargs: Any,
    ) -> None:
        if "num_labels" not in kwargs and kwargs.get("id2label") is None:
            kwargs["num_labels"] = 71
        kwargs.setdefault("problem_type", MULTI_LABEL)
        check_positive_int("num_leads", num_leads)
        filters, kernel_sizes = list(filters), list(kernel_sizes)
        if not filters or len(filters) != len(kernel_sizes):
            raise ValueError(
                f"filters and kernel_sizes must be non-empty and of equal length, got filters={filters} "
                f"and kernel_sizes={kernel_sizes}"
            )
        for index, (width, size) in enumerate(zip(filters, kernel_sizes)):
            check_positive_int(f"filters[{index}]", width)
            check_positive_int(f"kernel_sizes[{index}]", size)
        check_positive_int("head_hidden_size", head_hidden_size)
        check_probability("head_dropout", head_dropout)
        check_probability("final_dropout", final_dropout)
        self.num_leads = num_leads
        self.filters = filters
        self.kernel_sizes = kernel_sizes
        self.head_hidden_size = head_hidden_size
        self.head_dropout = float(head_dropout)
        self.final_dropout = float(final_dropout)
        super().__init__(**kwargs)
        check_problem_type(self.problem_type)
        check_num_labels(self.num_labels, self.problem_type)

    def to_diff_dict(self) -> dict[str, Any]:
        """Always write ``problem_type``: its default here (multi-label) differs from
        transformers' (None), and a saved None must not come back as multi-label."""
        diff = super().to_diff_dict()
        diff["problem_type"] = self.problem_type
        return diff

    @property
    def min_time_steps(self) -> int:
        """Shortest input length: each even kernel shortens the signal by one step."""
        return 1 + sum(size % 2 == 0 for size in self.kernel_sizes)


class ConcatPool1d(nn.Module):
    """Adaptive max and average pooling to length 1, concatenated along channels:
    ``[B, C, T] -> [B, 2C, 1]`` (max first, as fastai's ``AdaptiveConcatPool1d``)."""

    def __init__(self) -> None:
        super().__init__()
        self.max_pool = nn.AdaptiveMaxPool1d(1)
        self.avg_pool = nn.AdaptiveAvgPool1d(1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.max_pool(hidden), self.avg_pool(hidden)], dim=1)


class FCNWangPreTrainedModel(PreTrainedModel):
    """Weight initialisation as the fastai reference: Kaiming-normal (fan-in, ReLU)
    convolutions, PyTorch's default (Kaiming-uniform, a = sqrt(5)) linear layers,
    BatchNorm at identity."""

    config_class = FCNWangConfig
    base_model_prefix = "fcn_wang"
    main_input_name = "input_values"
    input_modalities = "audio"

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv1d):
            init.kaiming_normal_(module.weight, nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            init.kaiming_uniform_(module.weight, a=5**0.5)
            bound = module.in_features**-0.5
            init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.BatchNorm1d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)


class FCNWangForECGClassification(FCNWangPreTrainedModel):
    """fcn_wang for 12-lead ECG records (see the module docstring for the layers).

    Children: ``encoder`` (Conv1d/BatchNorm1d/ReLU blocks) and ``head`` (ConcatPool1d,
    Flatten, BatchNorm1d, Dropout, Linear, ReLU, BatchNorm1d, Dropout, Linear).
    """

    def __init__(self, config: FCNWangConfig) -> None:
        super().__init__(config)
        layers: list[nn.Module] = []
        in_channels = config.num_leads
        for width, size in zip(config.filters, config.kernel_sizes):
            layers += [
                nn.Conv1d(in_channels, width, size, padding=(size - 1) // 2, bias=False),
                nn.BatchNorm1d(width),
                nn.ReLU(),
            ]
            in_channels = width
        self.encoder = nn.Sequential(*layers)
        hidden = config.head_hidden_size
        self.head = nn.Sequential(
            ConcatPool1d(),
            nn.Flatten(),
            nn.BatchNorm1d(2 * in_channels),
            nn.Dropout(config.head_dropout),
            nn.Linear(2 * in_channels, hidden),
            nn.ReLU(),
            nn.BatchNorm1d(hidden),
            nn.Dropout(config.final_dropout),
            nn.Linear(hidden, config.num_labels),
        )
        self.post_init()

    def forward(
        self, input_values: torch.Tensor, labels: torch.Tensor | None = None
    ) -> SequenceClassifierOutput:
        """Classify ECG records.

        Args:
            input_values: float ``[B, num_leads, T]`` (standardised signals),
                ``T >= config.min_time_steps``.
            labels: ``[B, num_labels]`` multi-hot targets in [0, 1] (default multi-label
                config), or ``[B]`` class indices for a single-label config.

        Returns:
            ``SequenceClassifierOutput`` with ``logits`` ``[B, num_labels]`` and, given
            labels, the mean ``loss``.
        """
        if input_values.dim() != 3 or input_values.shape[1] != self.config.num_leads:
            raise ValueError(
                f"input_values must have shape [batch, {self.config.num_leads}, time] "
                f"(num_leads of the config), got {tuple(input_values.shape)}"
            )
        if input_values.shape[2] < self.config.min_time_steps:
            raise ValueError(
                f"input_values has {input_values.shape[2]} time steps; fcn_wang with kernel_sizes="
                f"{self.config.kernel_sizes} needs at least {self.config.min_time_steps}"
            )
        logits = self.head(self.encoder(input_values))
        loss = None if labels is None else classification_loss(logits, labels, self.config.problem_type)
        return SequenceClassifierOutput(loss=loss, logits=logits)
