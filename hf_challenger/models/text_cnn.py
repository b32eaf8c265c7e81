"""Text CNN over (GloVe) word embeddings, as the Challenger paper's Keras text model.

The layers are those of the Keras "pre-trained word embeddings" text classifier the
paper builds on (all convolutions "valid", i.e. unpadded, stride 1)::

    input_ids [B, L]
    Embedding(vocab_size, embedding_dim, padding_idx=0)  frozen by default -> [B, L, d]
    (x attention_mask: embeddings of padded positions set to zero)
    transpose -> [B, d, L]
    Conv1d(d, 128, 5), ReLU, MaxPool1d(5)
    Conv1d(128, 128, 5), ReLU, MaxPool1d(5)
    Conv1d(128, 128, 5), ReLU, AdaptiveMaxPool1d(1)     (global max pool over time)
    Flatten -> [B, 128]
    Linear(128, 128), ReLU, Dropout(dropout)            (dropout 0 = off, as in the paper)
    Linear(128, num_labels)                             -> logits [B, num_labels]

So there are three convolutions and two linear layers; the third convolution is pooled
globally rather than by a window. With the defaults the sequences must have at least
:attr:`TextCNNConfig.min_sequence_length` = 149 tokens (a padded length of 1,000 as in
the Keras model is typical).

``attention_mask`` (``[B, L]``, 1 = token, 0 = padding) multiplies the embedding
output, so padded positions enter the convolutions as zero vectors whatever the
embedding row 0 holds, and an embedding perturbation (Challenger, FGSM) made on padded
positions has no effect. Without a mask, positions holding id 0 use embedding row 0.

Challenger attributes and perturbs the output of :meth:`get_input_embeddings` (the
``nn.Embedding``); the multiplication by the mask happens after that module.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from .checks import (
    check_bool,
    check_num_labels,
    check_positive_int,
    check_probability,
    check_problem_type,
)
from .initialization import init
from .loss import classification_loss

PADDING_IDX = 0


class TextCNNConfig(PretrainedConfig):
    """Configuration of :class:`TextCNNForSequenceClassification`.

    Args:
        vocab_size: rows of the embedding matrix, padding (id 0) and OOV (id 1) included.
        embedding_dim: width of the embedding vectors (100 for the paper's GloVe).
        freeze_embeddings: keep the embedding matrix fixed during training (default, as
            with pretrained GloVe vectors).
        num_filters: output channels of each of the three convolutions (128).
        kernel_size: width of each convolution (5).
        pool_size: window and stride of the two max-poolings between convolutions (5).
        hidden_size: width of the hidden linear layer (128).
        dropout: dropout before the output layer, in ``[0, 1)`` (0: off).
        num_labels: number of classes (20 unless ``id2label`` says otherwise).
        kwargs: passed to :class:`transformers.PretrainedConfig`.
    """

    model_type = "challenger-text-cnn"

    def __init__(
        self,
        vocab_size: int = 20000,
        embedding_dim: int = 100,
        freeze_embeddings: bool = True,
        num_filters: int = 128,
        kernel_size: int = 5,
        pool_size: int = 5,
        hidden_size: int = 128,
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if "num_labels" not in kwargs and kwargs.get("id2label") is None:
            kwargs["num_labels"] = 20
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(
                f"vocab_size must be an integer of at least 2 (id 0 = padding, id 1 = OOV), got {vocab_size!r}"
            )
        for name, value in (
            ("embedding_dim", embedding_dim),
            ("num_filters", num_filters),
            ("kernel_size", kernel_size),
            ("pool_size", pool_size),
            ("hidden_size", hidden_size),
        ):
            check_positive_int(name, value)
        check_bool("freeze_embeddings", freeze_embeddings)
        check_probability("dropout", dropout)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.freeze_embeddings = freeze_embeddings
        self.num_filters = num_filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.hidden_size = hidden_size
        self.dropout = float(dropout)
        super().__init__(**kwargs)
        check_problem_type(self.problem_type)
        check_num_labels(self.num_labels, self.problem_type)

    @property
    def min_sequence_length(self) -> int:
        """Shortest input length that leaves at least one position after the last
        convolution: conv, pool, conv, pool, conv with "valid" convolutions."""
        length = self.kernel_size  # the third convolution needs kernel_size positions
        for _ in range(2):  # undo pool then conv, twice
            length = length * self.pool_size + self.kernel_size - 1
        return length


class TextCNNPreTrainedModel(PreTrainedModel):
    """Weight initialisation as Keras' defaults: Glorot-uniform kernels and zero biases;
    the embedding (when not loaded from vectors) N(0, 1) with a zero padding row."""

    config_class = TextCNNConfig
    base_model_prefix = "text_cnn"
    main_input_name = "input_ids"
    input_modalities = "text"

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Conv1d, nn.Linear)):
            init.xavier_uniform_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=1.0)
            # a slice loses the "already loaded" mark: only zero the row when initialising
            if not getattr(module.weight, "_is_hf_initialized", False):
                with torch.no_grad():
                    module.weight[PADDING_IDX].zero_()


class TextCNNForSequenceClassification(TextCNNPreTrainedModel):
    """Three-convolution text CNN (see the module docstring for the exact layers)."""

    def __init__(self, config: TextCNNConfig) -> None:
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=PADDING_IDX)
        width, k, pool = config.num_filters, config.kernel_size, config.pool_size
        self.convolutions = nn.Sequential(
            nn.Conv1d(config.embedding_dim, width, k),
            nn.ReLU(),
            nn.MaxPool1d(pool),
            nn.Conv1d(width, width, k),
            nn.ReLU(),
            nn.MaxPool1d(pool),
            nn.Conv1d(width, width, k),
            nn.ReLU(),
            nn.AdaptiveMaxPool1d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(width, config.hidden_size),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden_size, config.num_labels),
        )
        self.post_init()
        self._apply_embedding_freeze()

    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any) -> Any:
        """``PreTrainedModel.from_pretrained``, then the embedding freezing of the loaded
        config (loading can replace the embedding parameter with a trainable one)."""
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        model._apply_embedding_freeze()
        return loaded

    def _apply_embedding_freeze(self) -> None:
        self.embeddings.weight.requires_grad_(not self.config.freeze_embeddings)

    @classmethod
    def from_embeddings(
        cls, embeddings: torch.Tensor | np.ndarray, **config_kwargs: Any
    ) -> "TextCNNForSequenceClassification":
        """A new model whose ``vocab_size`` and ``embedding_dim`` come from ``embeddings``
        ``[V, d]`` (row 0 = padding, row 1 = OOV), loaded into the embedding layer.

        ``config_kwargs`` are the other :class:`TextCNNConfig` fields (``num_labels`` ...).
        """
        matrix = _as_matrix(embeddings)
        for key in ("vocab_size", "embedding_dim"):
            if key in config_kwargs:
                raise ValueError(f"{key} is taken from the embedding matrix; do not pass it (got {config_kwargs[key]!r})")
        config = TextCNNConfig(vocab_size=matrix.shape[0], embedding_dim=matrix.shape[1], **config_kwargs)
        model = cls(config)
        model.load_embedding_matrix(matrix)
        return model

    def load_embedding_matrix(self, embeddings: torch.Tensor | np.ndarray) -> None:
        """Copy ``embeddings`` ``[vocab_size, embedding_dim]`` into the embedding layer.

        The rows are copied as given (a GloVe matrix normally holds zeros in row 0, the
        padding id). Whether the layer trains stays as ``config.freeze_embeddings`` says.

        Raises:
            ValueError: when the shape differs from the config's or values are not finite.
        """
        matrix = _as_matrix(embeddings)
        expected = (self.config.vocab_size, self.config.embedding_dim)
        if tuple(matrix.shape) != expected:
            raise ValueError(
                f"embedding matrix has shape {tuple(matrix.shape)}, but the model expects "
                f"[vocab_size, embedding_dim]={expected}"
            )
        with torch.no_grad():
            self.embeddings.weight.copy_(matrix)

    def get_input_embeddings(self) -> nn.Embedding:
        """The ``nn.Embedding`` whose output Challenger attributes and perturbs."""
        return self.embeddings

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        """Classify token sequences.

        Args:
            input_ids: integer ``[B, L]``, ids in ``[0, vocab_size)`` (0 = padding), with
                ``L >= config.min_sequence_length``.
            attention_mask: optional ``[B, L]`` of 1 (token) / 0 (padding); padded
                positions get zero embedding vectors.
            labels: ``[B]`` class indices, or ``[B, num_labels]`` targets in [0, 1] when
                ``config.problem_type == "multi_label_classification"``.

        Returns:
            ``SequenceClassifierOutput`` with ``logits`` ``[B, num_labels]`` and, given
            labels, the mean ``loss``.
        """
        self._check_inputs(input_ids, attention_mask)
        embedded = self.embeddings(input_ids)  # [B, L, d]
        if attention_mask is not None:
            embedded = embedded * attention_mask.unsqueeze(-1).to(embedded.dtype)
        features = self.convolutions(embedded.transpose(1, 2))  # [B, num_filters]
        logits = self.classifier(features)
        loss = None if labels is None else classification_loss(logits, labels, self.config.problem_type)
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def _check_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> None:
        if input_ids.dim() != 2 or input_ids.is_floating_point() or input_ids.dtype == torch.bool:
            raise ValueError(
                f"input_ids must be an integer tensor [batch, length], got dtype {input_ids.dtype} "
                f"with shape {tuple(input_ids.shape)}"
            )
        minimum = self.config.min_sequence_length
        if input_ids.shape[1] < minimum:
            raise ValueError(
                f"input_ids has length {input_ids.shape[1]}, but this text CNN needs at least {minimum} "
                f"positions (kernel_size={self.config.kernel_size}, pool_size={self.config.pool_size}); "
                "pad the sequences"
            )
        if input_ids.numel() > 0:
            low, high = int(input_ids.min()), int(input_ids.max())
            if low < 0 or high >= self.config.vocab_size:
                bad = low if low < 0 else high
                raise ValueError(
                    f"input id {bad} is out of range: ids must lie in [0, {self.config.vocab_size - 1}] "
                    f"(vocab_size={self.config.vocab_size})"
                )
        if attention_mask is not None and attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask must have the shape of input_ids {tuple(input_ids.shape)}, "
                f"got {tuple(attention_mask.shape)}"
            )


def _as_matrix(embeddings: torch.Tensor | np.ndarray) -> torch.Tensor:
    """A float ``[V, d]`` tensor from a tensor or array, refusing other shapes and
    non-finite values."""
    if not isinstance(embeddings, (torch.Tensor, np.ndarray)):
        raise TypeError(
            f"embeddings must be a torch.Tensor or numpy array [vocab_size, embedding_dim], "
            f"got {type(embeddings).__name__}"
        )
    matrix = torch.as_tensor(embeddings).detach()
    if matrix.dim() != 2 or not matrix.is_floating_point():
        raise ValueError(
            f"embeddings must be a 2-D float matrix [vocab_size, embedding_dim], got dtype "
            f"{matrix.dtype} with shape {tuple(matrix.shape)}"
        )
    if not bool(torch.isfinite(matrix).all()):
        raise ValueError("embeddings contain NaN or infinite values")
    return matrix
