"""Every classification model class of the installed transformers, built from a tiny random config.

:func:`families` enumerates the sequence-, image-, audio- and time-series-classification mappings of
``transformers.models.auto``; :func:`build` makes a model of a family small enough to train on a CPU in
a fraction of a second (generic size fields shrunk wherever a config has them, plus the per-family
overrides in ``OVERRIDES``), and :func:`batch` a batch of its inputs. Used by the coverage test.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoConfig, PretrainedConfig
from transformers.models.auto import modeling_auto

VOCAB = 99
NUM_LABELS = 3
IMAGE = 32
AUDIO_SAMPLES = 1600
LENGTH = 12

MAPPINGS = {
    "text": "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
    "image": "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES",
    "audio": "MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES",
    "time-series": "MODEL_FOR_TIME_SERIES_CLASSIFICATION_MAPPING_NAMES",
}

# Size fields shrunk wherever a config has them (a field the config lacks is not added).
GENERIC: dict[str, Any] = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=64,
    head_dim=8,
    vocab_size=VOCAB,
    max_position_embeddings=64,
    embedding_size=32,
    d_model=32,
    d_ff=64,
    d_kv=8,
    num_layers=2,
    num_decoder_layers=2,
    num_heads=4,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=64,
    decoder_ffn_dim=64,
    n_embd=32,
    n_layer=2,
    n_head=4,
    n_inner=64,
    n_positions=64,
    n_ctx=64,
    dim=32,
    n_layers=2,
    n_heads=4,
    hidden_dim=64,
    ffn_dim=64,
    image_size=IMAGE,
    patch_size=8,
    num_channels=3,
    moe_intermediate_size=32,
    shared_expert_intermediate_size=32,
    num_experts=4,
    num_local_experts=4,
    n_routed_experts=4,
    num_experts_per_tok=2,
    first_k_dense_replace=1,
    n_group=1,
    topk_group=1,
    qk_rope_head_dim=8,  # multi-head latent attention (DeepSeek-V2/V3, MiniCPM3, Mistral4, AXK)
    qk_nope_head_dim=8,
    v_head_dim=8,
    kv_lora_rank=16,
    q_lora_rank=16,
    rotary_dim=4,
    d_inner=64,
    d_head=8,
    mask_time_prob=0.0,  # SpecAugment masks 10 frames; the tiny audio models have fewer
    num_labels=NUM_LABELS,
)

DROP = object()  # an override that removes a GENERIC size the config does not take

SWIN = dict(embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=4, patch_size=4)
RESNET = dict(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1])

TOKEN_IDS = ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id", "decoder_start_token_id")
SUBCONFIGS = ("text_config", "vision_config", "audio_config", "encoder", "decoder")

# Per-family corrections (applied after GENERIC).
OVERRIDES: dict[str, dict[str, Any]] = {
    "esmc": dict(num_key_value_heads=4),  # no grouped-query attention
    **dict.fromkeys(("axk1", "axk2", "deepseek_v2", "deepseek_v3", "minicpm3"), dict(num_key_value_heads=4)),
    "mistral4": dict(num_key_value_heads=4, rope_parameters={
        "type": "yarn", "rope_type": "yarn", "rope_theta": 10000.0, "factor": 2.0, "original_max_position_embeddings": 32,
        "max_position_embeddings": 64, "beta_fast": 32.0, "beta_slow": 1.0, "mscale_all_dim": 1.0, "mscale": 1.0,
        "llama_4_scaling_beta": 0.1, "partial_rotary_factor": 1.0}),
    "cohere_compass_text": dict(rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 10000.0}}),
    "zamba": dict(num_hidden_layers=3, layers_block_type=["linear_attention", "hybrid", "hybrid"],
                  layer_types=["linear_attention", "hybrid", "hybrid"],
                  attention_hidden_size=64, attention_head_dim=16, mamba_dt_rank=4, n_mamba_heads=2),
    "zamba2": dict(layers_block_type=["linear_attention", "hybrid"], hybrid_layer_ids=[1], mamba_headdim=8,
                   n_mamba_heads=8, adapter_rank=8, attention_hidden_size=64, attention_head_dim=16,
                   kv_channels=8, num_query_groups=4, chunk_size=4),
    "jamba": dict(attn_layer_period=2, attn_layer_offset=1, expert_layer_period=2, expert_layer_offset=1),
    "funnel": dict(num_hidden_layers=DROP, block_sizes=[1, 1], num_decoder_layers=1),
    "xlnet": dict(max_position_embeddings=DROP),
    "gpt_neo": dict(attention_types=[[["global", "local"], 1]]),
    "layoutlmv3": dict(coordinate_size=4, shape_size=8),  # 4 * 4 + 2 * 8 = hidden 32
    "lilt": dict(hidden_size=48),  # six box embeddings of hidden / 6
    "longformer": dict(attention_window=[4, 4]),
    "luke": dict(entity_vocab_size=10, entity_emb_size=8),
    "perceiver": dict(num_latents=8, d_latents=32, num_blocks=1, num_self_attends_per_block=1,
                      num_self_attention_heads=2, num_cross_attention_heads=1),
    "reformer": dict(attn_layers=["local", "local"], local_attn_chunk_length=4, axial_pos_shape=[4, 3],
                     axial_pos_embds_dim=[16, 16], max_position_embeddings=LENGTH),
    "t5": dict(decoder_start_token_id=0),
    "convnext": dict(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2),
    "convnextv2": dict(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2),
    "swin": SWIN,
    "donut-swin": SWIN,
    "swinv2": dict(SWIN, pretrained_window_sizes=[0, 0]),
    "efficientnet": dict(width_coefficient=0.1, depth_coefficient=0.1, hidden_dim=128),
    "levit": dict(patch_size=16, hidden_sizes=[16, 32], num_attention_heads=[2, 2], depths=[1, 1], key_dim=[4, 4],
                  mlp_ratio=[2, 2], attention_ratio=[2, 2], down_ops=[["Subsample", 4, 2, 2, 2, 2]]),
    "mobilevitv2": dict(patch_size=2, image_size=64),
    "textnet": dict(stem_out_channels=8, hidden_sizes=[8, 8, 16, 16, 32], depths=[1, 1, 1, 1]),
    "hiera": dict(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2]),
    "pvt_v2": dict(hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 2, 2]),
    "mobilevit": dict(hidden_sizes=[16, 16, 16], neck_hidden_sizes=[8, 8, 16, 16, 16, 16, 32], image_size=64),
    "resnet": RESNET,
    "regnet": dict(RESNET, groups_width=8),
    "bit": dict(RESNET, layer_type="bottleneck", num_groups=4),
    "focalnet": dict(embed_dim=16, depths=[1, 1], focal_levels=[2, 2], focal_windows=[3, 3]),
    "audio-spectrogram-transformer": dict(max_length=32, num_mel_bins=32, frequency_stride=4, time_stride=4,
                                          patch_size=DROP),
    "whisper": dict(num_mel_bins=16, max_source_positions=16),
    "patchtst": dict(num_targets=NUM_LABELS, context_length=32, num_input_channels=3, patch_length=8,
                     patch_stride=8),
}


@dataclass(frozen=True)
class Family:
    """One ``model_type`` with its classification class name and kind of input."""

    model_type: str
    class_name: str
    kind: str  # "text", "image", "audio" or "time-series"


def families() -> list[Family]:
    """The families of the installed transformers, in mapping order (text, image, audio, time series).
    Where a mapping names several classes (DeiT, LeViT: with a distillation teacher), the first."""
    found = []
    for kind, mapping in MAPPINGS.items():
        for model_type, class_name in getattr(modeling_auto, mapping).items():
            name = class_name if isinstance(class_name, str) else class_name[0]
            found.append(Family(model_type, name, kind))
    return found


def _tiny_kwargs(default: PretrainedConfig, overrides: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments of a tiny version of ``default``: the GENERIC sizes it has (a list-valued
    field is never given a number), its sub-configurations shrunk alike, then ``overrides``."""
    kwargs: dict[str, Any] = {}
    for key, value in GENERIC.items():
        if key == "num_labels" or not hasattr(default, key) or isinstance(getattr(type(default), key, None), property):
            continue
        current = getattr(default, key)
        if isinstance(current, (list, tuple, dict)) or isinstance(current, bool):
            continue
        kwargs[key] = value
    if isinstance(getattr(default, "image_size", None), (list, tuple)):
        kwargs["image_size"] = [IMAGE, IMAGE]
    for key in TOKEN_IDS:
        value = getattr(default, key, None)
        if isinstance(value, int) and value >= VOCAB:
            kwargs[key] = 0 if key == "pad_token_id" else 1
    types = getattr(default, "layer_types", None)
    settable = not isinstance(getattr(type(default), "layer_types", None), property)
    if settable and isinstance(types, (list, tuple)) and types:  # two layers, one of each kind where there are several
        kinds = list(dict.fromkeys(types))[:2]
        kwargs["layer_types"] = (kinds * 2)[:2]
    for key in SUBCONFIGS:
        inner = getattr(default, key, None)
        if isinstance(inner, PretrainedConfig):
            tiny = _tiny_kwargs(inner, overrides.get(key, {}))
            kwargs[key] = type(inner)(**{**inner.to_dict(), **tiny}).to_dict()
    kwargs.update({k: v for k, v in overrides.items() if k not in SUBCONFIGS})
    return {k: v for k, v in kwargs.items() if v is not DROP}


def config_for(family: Family) -> PretrainedConfig:
    """The tiny config of ``family`` (``num_labels`` = 3)."""
    default = AutoConfig.for_model(family.model_type)
    kwargs = _tiny_kwargs(default, OVERRIDES.get(family.model_type, {}))
    config = AutoConfig.for_model(family.model_type, **kwargs)
    config.num_labels = NUM_LABELS
    for part in (config, getattr(config, "text_config", None)):
        if part is not None and family.kind == "text" and getattr(part, "pad_token_id", None) is None:
            part.pad_token_id = 0
    return config


def build(family: Family) -> torch.nn.Module:
    """A randomly initialised ``family.class_name`` from its tiny config (seeded)."""
    import transformers

    torch.manual_seed(0)
    model = getattr(transformers, family.class_name)(config_for(family))
    prepare = PREPARE.get(family.model_type)
    if prepare is not None:
        prepare(model)
    return model


# Per-family set-up of a built model.
PREPARE: dict[str, Any] = {"xmod": lambda model: model.set_default_language("en_XX")}


def batch(family: Family, model: torch.nn.Module, rows: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    """Inputs for ``rows`` rows of the model's main input (token ids with right padding in some rows,
    images, waveforms, spectrograms or time series) and its labels under the model's label name."""
    generator = torch.Generator().manual_seed(seed)
    config = model.config
    text = getattr(config, "text_config", None) or config
    labels = torch.randint(0, NUM_LABELS, (rows,), generator=generator)
    key = model.main_input_name
    if family.model_type in INPUTS:
        inputs = INPUTS[family.model_type](model, rows, generator)
    elif key == "input_ids" or (key == "inputs" and family.kind == "text"):
        keep = LENGTH - torch.arange(rows) % 4
        mask = (torch.arange(LENGTH)[None, :] < keep[:, None]).long()
        ids = torch.randint(3, min(VOCAB, getattr(text, "vocab_size", VOCAB)), (rows, LENGTH), generator=generator)
        eos = getattr(text, "eos_token_id", None)
        if getattr(config, "is_encoder_decoder", False) and isinstance(eos, int):
            ids[torch.arange(rows), keep - 1] = eos  # BART-style heads read the last <eos>
        pad = getattr(text, "pad_token_id", None)
        pad = pad if isinstance(pad, int) else 0
        inputs = {key: ids * mask + (1 - mask) * pad, "attention_mask": mask}
    elif key in ("pixel_values", "inputs"):
        vision = getattr(config, "vision_config", None) or config
        channels = getattr(vision, "num_channels", 3)
        size = getattr(vision, "image_size", IMAGE)
        size = size if isinstance(size, int) else size[0]
        inputs = {key: torch.randn(rows, channels, size, size, generator=generator)}
    elif key == "input_values" and family.kind == "audio":
        shape = INPUT_SHAPES.get(family.model_type, (AUDIO_SAMPLES,))
        inputs = {key: torch.randn(rows, *shape, generator=generator)}
    elif key == "input_features":
        shape = INPUT_SHAPES.get(family.model_type) or (config.num_mel_bins, 2 * config.max_source_positions)
        inputs = {key: torch.randn(rows, *shape, generator=generator)}
    elif key == "past_values":
        inputs = {key: torch.randn(rows, config.context_length, config.num_input_channels, generator=generator)}
    else:
        raise KeyError(f"no inputs written for {family.model_type} (main input {key!r})")
    accepted = inspect.signature(model.forward).parameters
    inputs = {k: v for k, v in inputs.items() if k in accepted}
    label_key = "target_values" if "target_values" in accepted else "labels"
    return {**inputs, label_key: labels}


# Shapes of one row of the main input where the generic one does not fit.
INPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "audio-spectrogram-transformer": (32, 32),  # [frames, mel bins]
    "wav2vec2-bert": (20, 160),  # [frames, 2 stacked 80-bin frames]
    "whisper": (16, 32),  # [mel bins, 2 * max_source_positions]
}


def _siglip2_inputs(model: torch.nn.Module, rows: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """SigLIP2 takes patches, ``[B, num_patches, 3 * p * p]``, with their mask and grid shape."""
    vision = model.config.vision_config
    grid = IMAGE // vision.patch_size
    return {
        "pixel_values": torch.randn(rows, grid * grid, 3 * vision.patch_size**2, generator=generator),
        "pixel_attention_mask": torch.ones(rows, grid * grid, dtype=torch.long),
        "spatial_shapes": torch.tensor([[grid, grid]] * rows),
    }


# Inputs of families whose main input is none of the above.
INPUTS: dict[str, Any] = {"siglip2": _siglip2_inputs}
