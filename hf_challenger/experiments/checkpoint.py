"""Finetuning a checkpoint from a recipe: the ``model: {pretrained: ...}`` section and its loading.

::

    model:
      pretrained: distilbert-base-uncased    # a Hub id, or a folder written by save_pretrained
      auto_class: AutoModelForSequenceClassification   # default: the one the benchmark's modality needs
      tokenizer: null                        # text: tokenizer Hub id / folder (default: the checkpoint's)
      image_processor: null                  # images: processor Hub id / folder (default: the checkpoint's)
      attn_implementation: sdpa              # optional: eager | sdpa | ... (transformers' choice if unset)
      ignore_mismatched_sizes: false         # true: a head of another shape is replaced by a new one
      trust_remote_code: false               # true: run the Python code the checkpoint folder / repo ships
      config: {hidden_dropout_prob: 0.1}     # optional: attributes of the checkpoint's config to change

The data come through the checkpoint's own preprocessing (:mod:`hf_challenger.data.pretrained`):
``load_benchmark(..., tokenizer=...)`` for the text benchmarks, ``image_processor=...`` for
the image ones. Label names, ``num_labels`` and ``problem_type`` are set from the data.
The model is loaded with ``from_pretrained`` after ``set_seed``, so a new head is initialised
the same way for the same seed. Checked before training, each with an error naming the value
and what is allowed: the auto class, a local folder without ``config.json``, config keys the
checkpoint's config lacks, a tokenizer with more tokens than the model's input embeddings or
a ``max_length`` beyond its position embeddings, and pixel values the model cannot take.

Every config, model, tokenizer and image processor is loaded with ``trust_remote_code`` given
explicitly (``False`` unless the recipe sets ``model.trust_remote_code: true``), so a checkpoint
that ships its own Python code is refused instead of asking on stdin whether to run it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fields import shown
from .errors import RecipeError

#: Auto classes a recipe may name, with the benchmarks whose data they take.
AUTO_CLASSES: dict[str, tuple[str, ...]] = {
    "AutoModelForSequenceClassification": ("20newsgroups", "reuters"),
    "AutoModelForImageClassification": ("mnist", "cifar10"),
}
TEXT_BENCHMARKS = AUTO_CLASSES["AutoModelForSequenceClassification"]
IMAGE_BENCHMARKS = AUTO_CLASSES["AutoModelForImageClassification"]
CHECKPOINT_KEYS = (
    "pretrained",
    "auto_class",
    "tokenizer",
    "image_processor",
    "attn_implementation",
    "ignore_mismatched_sizes",
    "trust_remote_code",
    "config",
)
#: ``load_benchmark`` options of this package's own encodings (word vocabulary, normalisation).
WORD_LEVEL_OPTIONS = ("vocab_size", "min_frequency", "normalization")
#: Config attributes set from the data (a recipe may still give them).
DATA_CONFIG_KEYS = ("num_labels", "id2label", "label2id", "problem_type")


@dataclass(frozen=True)
class Checkpoint:
    """The validated ``model`` section of a checkpoint recipe (module docstring)."""

    pretrained: str
    auto_class: str
    tokenizer: str | None = None
    image_processor: str | None = None
    attn_implementation: str | None = None
    ignore_mismatched_sizes: bool = False
    trust_remote_code: bool = False

    @property
    def processor_source(self) -> str:
        """Where the tokenizer or image processor is loaded from (default: the checkpoint)."""
        return self.tokenizer or self.image_processor or self.pretrained

    def to_dict(self) -> dict[str, Any]:
        """The section as YAML keys (unset optional keys left out)."""
        out: dict[str, Any] = {"pretrained": self.pretrained, "auto_class": self.auto_class}
        for key in ("tokenizer", "image_processor", "attn_implementation"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["ignore_mismatched_sizes"] = self.ignore_mismatched_sizes
        out["trust_remote_code"] = self.trust_remote_code
        return out


def parse_checkpoint(
    model: Mapping[str, Any], benchmark: str, options: Mapping[str, Any], source: str
) -> Checkpoint:
    """Validate a ``model`` section that has ``pretrained`` (keys already checked against the schema)
    and refuse ``data.options`` of this package's own encodings (``options``), which would not apply.

    Raises:
        RecipeError: naming ``source``, the key, its value and what is allowed.
    """
    for key in ("class", "glove_path"):
        if key in model:
            raise RecipeError(
                f"{source}: model.{key} does not apply with model.pretrained (the checkpoint's config names its "
                "architecture and carries its embeddings); remove it"
            )
    supported = TEXT_BENCHMARKS + IMAGE_BENCHMARKS
    if benchmark not in supported:
        raise RecipeError(
            f"{source}: model.pretrained needs a text or image benchmark ({', '.join(supported)}); got "
            f"data.benchmark={shown(benchmark)}"
        )
    for key in WORD_LEVEL_OPTIONS:
        if key in options:
            raise RecipeError(
                f"{source}: data.options.{key} does not apply with model.pretrained (the checkpoint's tokenizer or "
                "image processor encodes the data); remove it"
            )
    pretrained = model["pretrained"]
    if not isinstance(pretrained, str) or not pretrained.strip():
        raise RecipeError(f"{source}: model.pretrained must be a Hub id or a folder path, got {shown(pretrained)}")
    wanted = "AutoModelForSequenceClassification" if benchmark in TEXT_BENCHMARKS else "AutoModelForImageClassification"
    auto_class = model.get("auto_class") or wanted
    if auto_class not in AUTO_CLASSES:
        raise RecipeError(
            f"{source}: model.auto_class={shown(auto_class)} is not supported; allowed: {', '.join(AUTO_CLASSES)}"
        )
    if benchmark not in AUTO_CLASSES[auto_class]:
        raise RecipeError(
            f"{source}: model.auto_class={shown(auto_class)} does not take {shown(benchmark)} data; use {wanted}"
        )
    texts = {"tokenizer": TEXT_BENCHMARKS, "image_processor": IMAGE_BENCHMARKS}
    for key, benchmarks in texts.items():
        value = model.get(key)
        if value is None:
            continue
        if benchmark not in benchmarks:
            raise RecipeError(
                f"{source}: model.{key} applies to {', '.join(benchmarks)}, not to {shown(benchmark)}; remove it"
            )
        if not isinstance(value, str) or not value.strip():
            raise RecipeError(f"{source}: model.{key} must be a Hub id or a folder path, got {shown(value)}")
    attn = model.get("attn_implementation")
    if attn is not None and (not isinstance(attn, str) or not attn):
        raise RecipeError(
            f"{source}: model.attn_implementation must be a name such as 'eager' or 'sdpa', got {shown(attn)}"
        )
    ignore = model.get("ignore_mismatched_sizes", False)
    if not isinstance(ignore, bool):
        raise RecipeError(f"{source}: model.ignore_mismatched_sizes must be true or false, got {shown(ignore)}")
    trust = model.get("trust_remote_code", False)
    if not isinstance(trust, bool):
        raise RecipeError(f"{source}: model.trust_remote_code must be true or false, got {shown(trust)}")
    return Checkpoint(
        pretrained=_home(pretrained),
        auto_class=auto_class,
        tokenizer=_home(model.get("tokenizer")),
        image_processor=_home(model.get("image_processor")),
        attn_implementation=attn,
        ignore_mismatched_sizes=ignore,
        trust_remote_code=trust,
    )


def _home(value: str | None) -> str | None:
    """``value`` with a leading ``~`` expanded (a Hub id never starts with one)."""
    return str(Path(value).expanduser()) if isinstance(value, str) and value.startswith("~") else value


def check_local_checkpoint(path: str, source: str) -> None:
    """An existing path must be a folder with ``config.json``; a path written as one (``/``, ``~``,
    ``./``, ``../``) must exist; anything else is taken as a Hub id."""
    folder = Path(path).expanduser()
    if not folder.exists():
        if path.startswith(("/", "~", "./", "../")):
            raise RecipeError(
                f"{source}: model.pretrained={shown(path)} does not exist; give a folder written by "
                "save_pretrained (see the recipe's comments for how to make it) or a Hub id"
            )
        return
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise RecipeError(
            f"{source}: model.pretrained={shown(path)} is a local path without a config.json; it must be a folder "
            "written by save_pretrained (config.json plus the weights) or a Hub id"
        )


def remote_code_hint(failure: BaseException) -> str:
    """The text of a loading error; transformers refusing a checkpoint's own code is said in one line
    with the recipe key that allows it."""
    text = str(failure)
    if "trust_remote_code" in text:
        return (
            "it ships its own Python code (an auto_map in its config), which hf-challenger does not run by default "
            "(trust_remote_code=False); set model.trust_remote_code: true in the recipe only if you have read and "
            "trust that code"
        )
    return text


def load_processor(checkpoint: Checkpoint, benchmark: str) -> Any:
    """The tokenizer (text benchmarks) or image processor (image benchmarks) of ``checkpoint``."""
    from ..data.pretrained import resolve_image_processor, resolve_tokenizer

    resolve = resolve_tokenizer if benchmark in TEXT_BENCHMARKS else resolve_image_processor
    local = Path(checkpoint.processor_source).expanduser()
    source = str(local) if local.exists() else checkpoint.processor_source
    return resolve(source, trust_remote_code=checkpoint.trust_remote_code)


def checkpoint_config(
    checkpoint: Checkpoint, overrides: Mapping[str, Any], metadata: Mapping[str, Any], source: str
) -> Any:
    """The checkpoint's config with the recipe's ``config`` overrides and the data's labels applied."""
    from transformers import AutoConfig

    check_local_checkpoint(checkpoint.pretrained, source)
    try:
        config = AutoConfig.from_pretrained(checkpoint.pretrained, trust_remote_code=checkpoint.trust_remote_code)
    except (OSError, ValueError) as failure:
        raise RecipeError(
            f"{source}: could not load the config of model.pretrained={shown(checkpoint.pretrained)}: "
            f"{remote_code_hint(failure)}"
        ) from failure
    known = set(config.to_dict()) | set(DATA_CONFIG_KEYS)
    for key, value in overrides.items():
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {shown(close[0])}?)" if close else ""
            raise RecipeError(
                f"{source}: model.config.{key} is not an attribute of the {type(config).__name__} of "
                f"{shown(checkpoint.pretrained)}{hint}"
            )
        setattr(config, key, value)
    label_names = list(metadata.get("label_names") or [])
    if label_names:
        if "num_labels" in overrides and overrides["num_labels"] != len(label_names):
            raise RecipeError(
                f"{source}: model.config.num_labels={overrides['num_labels']} but the data have "
                f"{len(label_names)} labels"
            )
        config.id2label = dict(enumerate(label_names))
        config.label2id = {label: index for index, label in enumerate(label_names)}
    if "problem_type" not in overrides and metadata.get("problem_type"):
        config.problem_type = metadata["problem_type"]
    return config


def load_pretrained_model(checkpoint: Checkpoint, overrides: Mapping[str, Any], datasets: Any, source: str) -> Any:
    """``auto_class.from_pretrained`` of the checkpoint for ``datasets``, checked against the data."""
    import transformers

    from ..data import get_metadata

    metadata = get_metadata(datasets)
    config = checkpoint_config(checkpoint, overrides, metadata, source)
    kwargs: dict[str, Any] = {
        "config": config,
        "ignore_mismatched_sizes": checkpoint.ignore_mismatched_sizes,
        "trust_remote_code": checkpoint.trust_remote_code,
    }
    if checkpoint.attn_implementation is not None:
        kwargs["attn_implementation"] = checkpoint.attn_implementation
    auto = getattr(transformers, checkpoint.auto_class)
    try:
        model = auto.from_pretrained(checkpoint.pretrained, **kwargs)
    except RuntimeError as failure:
        if "ignore_mismatched_sizes" not in str(failure):
            raise
        raise RecipeError(
            f"{source}: the weights of {shown(checkpoint.pretrained)} do not fit a model for {len(config.id2label)} "
            "labels "
            "(its classification head has another shape); set model.ignore_mismatched_sizes: true to start a new head"
        ) from failure
    except ValueError as failure:
        raise RecipeError(
            f"{source}: could not load model.pretrained={shown(checkpoint.pretrained)}: {remote_code_hint(failure)}"
        ) from failure
    if "tokenizer" in metadata:
        check_tokenizer_fits(model, metadata["tokenizer"], source)
    else:
        check_pixels_fit(model, datasets["train"], metadata.get("image_processor", {}), source)
    return model


def check_tokenizer_fits(model: Any, tokenizer: Mapping[str, Any], source: str) -> None:
    """The token ids must index the input embeddings and ``max_length`` fit the position embeddings."""
    rows = model.get_input_embeddings().weight.shape[0]
    if tokenizer["vocab_size"] > rows:
        raise RecipeError(
            f"{source}: the tokenizer {shown(tokenizer['name_or_path'])} has {tokenizer['vocab_size']} tokens but the "
            f"model's input embeddings have {rows} rows; use the checkpoint's own tokenizer (or one of at most "
            f"{rows} tokens)"
        )
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and tokenizer["max_length"] > positions:
        raise RecipeError(
            f"{source}: data.options.max_length={tokenizer['max_length']} exceeds the model's "
            f"max_position_embeddings={positions}; set max_length <= {positions}"
        )


def check_pixels_fit(model: Any, train: Any, processor: Mapping[str, Any], source: str) -> None:
    """One training image through the model in eval mode (no grad): a size or channel count the model
    cannot take is an error naming the processor's output and the model's config."""
    import torch

    pixels = train[0]["pixel_values"]
    pixels = pixels if torch.is_tensor(pixels) else torch.as_tensor(pixels)
    channels = getattr(model.config, "num_channels", None)
    expected = f"num_channels={channels}, image_size={getattr(model.config, 'image_size', None)}"
    described = (
        f"the image processor {processor.get('class', '')} (size {processor.get('size')}) gives pixel_values "
        f"{list(pixels.shape)}"
    )
    if isinstance(channels, int) and pixels.shape[0] != channels:
        raise RecipeError(f"{source}: {described}, but the model takes {expected}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(pixel_values=pixels[None].to(model.dtype))
    except (ValueError, RuntimeError) as failure:
        raise RecipeError(f"{source}: {described}, which the model ({expected}) cannot take: {failure}") from failure
    finally:
        model.train(was_training)
