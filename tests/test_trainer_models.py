"""Tiny models and data shared by the ChallengerTrainer tests and the DDP script (CPU, fast).

Both models record what their training forward sees, so tests can compare the batch the model
trained on with the batch the data loader gave.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset
from transformers.modeling_outputs import ImageClassifierOutput, SequenceClassifierOutput

from hf_challenger.lrp import EpsilonLRP


class TinyConvNet(nn.Module):
    """Conv-BN-ReLU-MaxPool-Linear classifier: ``forward(pixel_values [B, 3, 8, 8], labels [B])``."""

    main_input_name = "pixel_values"

    def __init__(self, num_labels: int = 4, batch_norm: bool = True) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.BatchNorm2d(6) if batch_norm else nn.Identity(),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(32, num_labels)
        self.seen: list[torch.Tensor] = []
        self.autocast_in_eval: list[bool] = []
        self.autocast_in_train: list[bool] = []

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None) -> ImageClassifierOutput:
        if self.training:
            self.seen.append(pixel_values.detach().clone())
            self.autocast_in_train.append(torch.is_autocast_enabled("cpu"))
        else:
            self.autocast_in_eval.append(torch.is_autocast_enabled("cpu"))
        logits = self.classifier(self.features(pixel_values))
        loss = nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
        return ImageClassifierOutput(loss=loss, logits=logits)


class TinyTextNet(nn.Module):
    """Embedding-Conv1d-ReLU-MaxPool text classifier: ``forward(input_ids [B, L], attention_mask, labels)``."""

    main_input_name = "input_ids"

    def __init__(self, vocab: int = 30, dim: int = 6, num_labels: int = 3) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.conv = nn.Conv1d(dim, 8, 3, padding=1)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.flat = nn.Flatten()
        self.classifier = nn.Linear(8, num_labels)
        self.seen: list[torch.Tensor] = []

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        embedded = self.embed(input_ids)  # the trainer's hook has already edited this output
        if self.training:
            self.seen.append(embedded.detach().clone())
        if attention_mask is not None:
            embedded = embedded * attention_mask.unsqueeze(-1).to(embedded.dtype)
        hidden = self.flat(self.pool(self.act(self.conv(embedded.transpose(1, 2)))))
        logits = self.classifier(hidden)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class DictDataset(Dataset):
    """Rows ``{key: tensor[i]}`` of equally long tensors."""

    def __init__(self, **columns: torch.Tensor) -> None:
        self.columns = columns
        self.length = len(next(iter(columns.values())))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[index] for key, value in self.columns.items()}


def image_data(rows: int = 32, seed: int = 0, num_labels: int = 4) -> DictDataset:
    gen = torch.Generator().manual_seed(seed)
    return DictDataset(
        pixel_values=torch.randn(rows, 3, 8, 8, generator=gen),
        labels=torch.randint(0, num_labels, (rows,), generator=gen),
    )


def text_data(rows: int = 24, length: int = 10, seed: int = 0, vocab: int = 30) -> DictDataset:
    """Token ids with trailing padding (id 0, attention 0); row ``i`` keeps ``3 + i % (length-2)`` tokens."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, vocab, (rows, length), generator=gen)
    keep = 3 + torch.arange(rows) % (length - 2)
    attention = (torch.arange(length)[None, :] < keep[:, None]).long()
    return DictDataset(
        input_ids=ids * attention,
        attention_mask=attention,
        labels=torch.randint(0, 3, (rows,), generator=gen),
    )


def test_tiny_models_are_attributable() -> None:
    """The engine supports every layer of both tiny models (the trainer tests rely on it)."""
    image = TinyConvNet().eval()
    pixels = torch.randn(2, 3, 8, 8)
    relevance = EpsilonLRP(image).attribute(pixels, torch.tensor([0, 1]))
    assert relevance.shape == pixels.shape and relevance.abs().sum() > 0
    text = TinyTextNet().eval()
    batch = text_data(rows=2)[0]
    ids, mask = batch["input_ids"][None], batch["attention_mask"][None]
    relevance = EpsilonLRP(text).attribute(
        {"input_ids": ids, "attention_mask": mask}, torch.tensor([1]), at=text.get_input_embeddings()
    )
    assert relevance.shape == (1, 10, 6)
    assert relevance[0, mask[0] == 0].abs().sum() == 0 and relevance[0, mask[0] == 1].abs().sum() > 0
