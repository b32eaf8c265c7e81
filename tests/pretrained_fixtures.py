"""Tiny checkpoints made on the spot, saved with ``save_pretrained`` as a Hub checkpoint would be:
a BERT-style text encoder with a WordPiece tokenizer trained with the ``tokenizers`` library,
and a ViT with its image processor. No download anywhere."""

from __future__ import annotations

from pathlib import Path

import torch


def bydate_texts(root: Path) -> list[str]:
    """Every message of ``root/20news-bydate-train`` (files written by ``write_bydate``), decoded."""
    from hf_challenger.data.newsgroups import decode_message

    folder = root / "20news-bydate-train"
    return [decode_message(path.read_bytes()) for path in sorted(folder.rglob("*")) if path.is_file()]


def wordpiece_tokenizer(texts: list[str], vocab_size: int = 120, model_max_length: int = 64):
    """A lower-casing WordPiece tokenizer trained on ``texts`` with BERT's special tokens and template."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    backend.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=model_max_length,
    )  # fmt: skip


def write_tiny_bert(folder: Path, texts: list[str], vocab_rows: int | None = None) -> Path:
    """A 2-layer BERT encoder (hidden 16, no classification head) and its tokenizer in ``folder``.

    ``vocab_rows``: rows of the input embeddings (default: the tokenizer's size).
    """
    from transformers import BertConfig, BertModel

    tokenizer = wordpiece_tokenizer(texts)
    config = BertConfig(
        vocab_size=vocab_rows or len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_tiny_vit(folder: Path, image_size: int = 32, processor_size: int | None = None) -> Path:
    """A 1-layer ViT (3 channels, patch 8, hidden 16, no head) and a ViT image processor in ``folder``."""
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    config = ViTConfig(
        image_size=image_size, patch_size=8, num_channels=3, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32,
    )  # fmt: skip
    torch.manual_seed(0)
    ViTModel(config, add_pooling_layer=False).save_pretrained(folder)
    size = processor_size or image_size
    ViTImageProcessor(size={"height": size, "width": size}).save_pretrained(folder)
    return folder
