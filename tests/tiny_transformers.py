"""Tiny random configurations of stock transformers models, one per family (no downloads).

``FAMILIES`` maps a family name to a builder ``(attn_implementation) -> model`` and the kind of input
(``"text"``: ``input_ids``/``attention_mask``, attributed at ``get_input_embeddings()``; ``"vision"``:
``pixel_values`` [B, 3, 32, 32]). Used by the LRP and trainer tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import (
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
    BertConfig,
    ConvNextConfig,
    DeiTConfig,
    DeiTForImageClassification,
    DistilBertConfig,
    GPT2Config,
    LlamaConfig,
    ResNetConfig,
    RobertaConfig,
    SwinConfig,
    ViTConfig,
)

VOCAB = 64
NUM_LABELS = 3
IMAGE = 32


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # "text" or "vision"
    build: Callable[[str], torch.nn.Module]
    attention: bool  # has self-attention (eager and sdpa both apply)


def _text(config) -> Callable[[str], torch.nn.Module]:
    def build(attn_implementation: str = "eager") -> torch.nn.Module:
        torch.manual_seed(0)
        return AutoModelForSequenceClassification.from_config(config, attn_implementation=attn_implementation).eval()

    return build


def _vision(config, model_class=AutoModelForImageClassification) -> Callable[[str], torch.nn.Module]:
    def build(attn_implementation: str = "eager") -> torch.nn.Module:
        torch.manual_seed(0)
        if model_class is AutoModelForImageClassification:
            return model_class.from_config(config, attn_implementation=attn_implementation).eval()
        config._attn_implementation = attn_implementation
        return model_class(config).eval()

    return build


_BERT_LIKE = dict(
    vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
    max_position_embeddings=64, num_labels=NUM_LABELS,
)
_DECODER = dict(vocab_size=VOCAB, num_labels=NUM_LABELS, pad_token_id=0, bos_token_id=1, eos_token_id=1)

FAMILIES: dict[str, Family] = {
    "bert": Family("bert", "text", _text(BertConfig(**_BERT_LIKE)), True),
    "roberta": Family("roberta", "text", _text(RobertaConfig(**_BERT_LIKE, pad_token_id=1)), True),
    "distilbert": Family(
        "distilbert",
        "text",
        _text(DistilBertConfig(vocab_size=VOCAB, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64, num_labels=NUM_LABELS)),
        True,
    ),
    "gpt2": Family("gpt2", "text", _text(GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=64, **_DECODER)), True),
    "llama": Family(
        "llama",
        "text",
        _text(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, **_DECODER)),
        True,
    ),
    "vit": Family(
        "vit",
        "vision",
        _vision(ViTConfig(image_size=IMAGE, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, num_labels=NUM_LABELS)),
        True,
    ),
    "deit": Family(
        "deit",
        "vision",
        _vision(
            DeiTConfig(image_size=IMAGE, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, num_labels=NUM_LABELS),
            DeiTForImageClassification,
        ),
        True,
    ),
    "convnext": Family(
        "convnext",
        "vision",
        _vision(ConvNextConfig(num_channels=3, num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], image_size=IMAGE, num_labels=NUM_LABELS)),
        False,
    ),
    "resnet": Family(
        "resnet",
        "vision",
        _vision(ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="bottleneck", num_labels=NUM_LABELS)),
        False,
    ),
    "swin": Family(
        "swin",
        "vision",
        _vision(SwinConfig(image_size=IMAGE, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=4, num_labels=NUM_LABELS)),
        True,
    ),
}


def _more_families() -> dict[str, Family]:
    """Further families the engine handles, checked for attribution only (no trainer run)."""
    import transformers as t

    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, num_labels=NUM_LABELS)
    decoder = dict(small, num_key_value_heads=2, vocab_size=VOCAB, pad_token_id=0, bos_token_id=1, eos_token_id=1)
    patches = dict(small, image_size=IMAGE, patch_size=8)
    text = {
        "qwen2": t.Qwen2Config(**decoder),
        "mistral": t.MistralConfig(**decoder),
        "gemma": t.GemmaConfig(**decoder, head_dim=8),
        "albert": t.AlbertConfig(**small, embedding_size=16, vocab_size=VOCAB),
        "electra": t.ElectraConfig(**small, embedding_size=16, vocab_size=VOCAB),
        "deberta-v2": t.DebertaV2Config(**small, vocab_size=VOCAB),
        "modernbert": t.ModernBertConfig(**small, vocab_size=VOCAB, pad_token_id=0),
    }
    vision = {
        "beit": t.BeitConfig(**patches),
        "dinov2": t.Dinov2Config(**{k: v for k, v in patches.items() if k != "intermediate_size"}, mlp_ratio=2),
        "regnet": t.RegNetConfig(num_labels=NUM_LABELS, hidden_sizes=[8, 16], depths=[1, 1], embedding_size=8, groups_width=8),
    }
    families = {name: Family(name, "text", _text(config), True) for name, config in text.items()}
    families.update({name: Family(name, "vision", _vision(config), False) for name, config in vision.items()})
    return families


MORE_FAMILIES: dict[str, Family] = _more_families()


def text_batch(rows: int = 4, length: int = 12, pad_last: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    """``input_ids``/``attention_mask`` [rows, length]; the last row is right-padded by ``pad_last`` tokens."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, VOCAB, (rows, length), generator=generator)
    mask = torch.ones(rows, length, dtype=torch.long)
    if pad_last:
        mask[-1, -pad_last:] = 0
        ids[-1, -pad_last:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def vision_batch(rows: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    """``pixel_values`` [rows, 3, 32, 32], standard normal."""
    generator = torch.Generator().manual_seed(seed)
    return {"pixel_values": torch.randn(rows, 3, IMAGE, IMAGE, generator=generator)}


def batch_for(family: Family, rows: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    return text_batch(rows, seed=seed) if family.kind == "text" else vision_batch(rows, seed=seed)
