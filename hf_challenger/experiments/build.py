"""From a validated :class:`~hf_challenger.experiments.recipe.Recipe` to the objects a run needs: training
arguments (with command-line overrides), the data splits, a freshly initialised model and the
trainer."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import RecipeError
from .recipe import check_override_names, config_keys, model_classes, training_field_names, unknown_key_error
from .recipe_spec import Recipe

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- arguments


def training_argument_parser() -> Any:
    """``HfArgumentParser`` over :class:`~hf_challenger.ChallengerTrainingArguments`."""
    from transformers import HfArgumentParser

    from ..training_args import ChallengerTrainingArguments

    return HfArgumentParser(ChallengerTrainingArguments)


def parse_overrides(argv: Sequence[str]) -> dict[str, Any]:
    """Parse ``--field value`` command-line overrides of training fields into a dict.

    Only the fields given appear in the result, converted by ``HfArgumentParser``'s types
    (``--challenger_enabled false`` -> ``False``, ``--learning_rate 1e-3`` -> ``0.001``).

    Raises:
        RecipeError: naming an unknown option (with the closest field name) or a bad value.
    """
    parser = training_argument_parser()
    for action in parser._actions:  # report only what was given (not parser.set_defaults: it fills the namespace)
        action.default = argparse.SUPPRESS
    check_override_names(argv)
    try:
        namespace, rest = parser.parse_known_args(list(argv))
    except SystemExit as error:  # argparse already printed the reason
        raise RecipeError(f"command line: could not parse training overrides {list(argv)}") from error
    if rest:
        raise RecipeError(f"command line: unexpected arguments {rest}; give training fields as --field value")
    return vars(namespace)


def _distributed_cpu(values: dict[str, Any]) -> dict[str, Any]:
    """Under ``torchrun``/``accelerate launch`` with several processes and no GPU, set
    ``use_cpu=True``: without it each process would train alone, not as a gloo DDP group."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.cuda.is_available() and not values.get("use_cpu", False):
        logger.info("hf-challenger: %d processes and no GPU: training with use_cpu=True (gloo DDP)", world)
        return {**values, "use_cpu": True}
    return values


def build_training_arguments(values: Mapping[str, Any]) -> Any:
    """``ChallengerTrainingArguments`` from a dict of fields, through ``HfArgumentParser.parse_dict``.

    Raises:
        RecipeError: naming an unknown field.
    """
    allowed = training_field_names()
    for key in values:
        if key not in allowed:
            raise unknown_key_error("", key, allowed, "training arguments")
    values = _distributed_cpu(dict(values))
    (args,) = training_argument_parser().parse_dict(values, allow_extra_keys=False)
    return args


# --------------------------------------------------------------------------- data and model


def load_recipe_data(recipe: Recipe) -> Any:
    """The recipe's ``DatasetDict`` (``train``, ``validation``, ``test``), training subset applied.

    ``load_benchmark(recipe.benchmark, **recipe.data_options)`` gives the splits (for a checkpoint
    recipe through its tokenizer or image processor: :func:`recipe_processor`); with
    ``train_per_class`` the training split keeps that many examples per class
    (``make_tiny``, seeded with ``subset_seed``, the same subset for every training seed; with
    ``train_per_class_strict`` false a class with fewer examples keeps all of them, with a warning);
    with ``eval_per_class`` the validation and test splits keep at most that many per class
    (``cap_per_class``, same seed).

    Raises:
        RecipeError: when the benchmark lacks a ``train`` or ``test`` split.
    """
    from ..data import cap_per_class, load_benchmark, make_tiny

    options = dict(recipe.data_options)
    if recipe.checkpoint is not None:
        from .checkpoint import TEXT_BENCHMARKS

        key = "tokenizer" if recipe.benchmark in TEXT_BENCHMARKS else "image_processor"
        options[key] = recipe_processor(recipe)
    datasets = load_benchmark(recipe.benchmark, **options)
    for split in ("train", "test"):
        if split not in datasets:
            raise RecipeError(
                f"{recipe.source}: benchmark {recipe.benchmark!r} gave splits {list(datasets)}; a '{split}' split is needed"
            )
    if recipe.train_per_class is not None:
        datasets["train"] = make_tiny(
            datasets["train"], per_class=recipe.train_per_class, seed=recipe.subset_seed,
            strict=recipe.train_per_class_strict,
        )
    if recipe.eval_per_class is not None:
        for split in ("validation", "test"):
            if split in datasets:
                datasets[split] = cap_per_class(datasets[split], recipe.eval_per_class, seed=recipe.subset_seed)
    return datasets


def recipe_processor(recipe: Recipe) -> Any:
    """The tokenizer or image processor of a checkpoint recipe (None for this package's own models).

    Raises:
        RecipeError: when the checkpoint is a local folder without ``config.json``, or nothing loads.
    """
    if recipe.checkpoint is None:
        return None
    from .checkpoint import check_local_checkpoint, load_processor

    check_local_checkpoint(recipe.checkpoint.pretrained, recipe.source)
    try:
        return load_processor(recipe.checkpoint, recipe.benchmark)
    except ValueError as error:
        raise RecipeError(f"{recipe.source}: {error}") from error


def model_class_of(recipe: Recipe) -> type:
    """The class whose ``from_pretrained`` reloads the recipe's saved models (a transformers auto
    class for checkpoint recipes)."""
    if recipe.checkpoint is not None:
        import transformers

        return getattr(transformers, recipe.checkpoint.auto_class)
    return model_classes()[recipe.model_class]


def model_config_kwargs(recipe: Recipe, datasets: Any) -> dict[str, Any]:
    """The recipe's ``model.config`` with the fields the data determine filled in.

    Label names give ``id2label``/``label2id`` (unless the recipe sets ``num_labels`` or
    ``id2label``; a ``num_labels`` that disagrees with the data is an error), the data's
    ``problem_type`` is used unless set, and text models without ``glove_path`` get
    ``vocab_size`` from the data's vocabulary.
    """
    from ..data import get_metadata

    metadata = get_metadata(datasets)
    config = dict(recipe.model_config)
    label_names = list(metadata.get("label_names") or [])
    if label_names:
        if "num_labels" in config and config["num_labels"] != len(label_names):
            raise RecipeError(
                f"{recipe.source}: model.config.num_labels={config['num_labels']} but benchmark "
                f"{recipe.benchmark!r} has {len(label_names)} labels"
            )
        if "id2label" not in config:
            config.pop("num_labels", None)
            config["id2label"] = dict(enumerate(label_names))
            config["label2id"] = {label: index for index, label in enumerate(label_names)}
    if "problem_type" not in config and metadata.get("problem_type"):
        config["problem_type"] = metadata["problem_type"]
    keys = config_keys(model_classes()[recipe.model_class])
    if recipe.glove_path is None and "vocab_size" in keys and "vocab_size" not in config and metadata.get("vocabulary"):
        config["vocab_size"] = len(metadata["vocabulary"])
    return config


def build_model(recipe: Recipe, datasets: Any) -> Any:
    """A freshly initialised model of ``recipe.model_class`` for ``datasets``.

    Seed torch first (``transformers.set_seed``) for reproducible initialisation. With
    ``glove_path`` the embedding matrix ``[V, d]`` is built for the data's vocabulary
    (``hf_challenger.data.glove.glove_embedding_matrix``) and loaded into the model. A checkpoint
    recipe loads the checkpoint instead (:func:`hf_challenger.experiments.checkpoint.load_pretrained_model`).
    """
    if recipe.checkpoint is not None:
        from .checkpoint import load_pretrained_model

        return load_pretrained_model(recipe.checkpoint, recipe.model_config, datasets, recipe.source)
    model_class = model_classes()[recipe.model_class]
    config = model_config_kwargs(recipe, datasets)
    if recipe.glove_path is not None:
        from ..data.glove import glove_embedding_matrix
        from ..data.text import get_vocabulary

        path = recipe.glove_path
        if path == "default":
            from ..data import default_glove_path

            path = default_glove_path(config.get("embedding_dim", 100))
        matrix = glove_embedding_matrix(get_vocabulary(datasets), Path(path).expanduser())
        for key, size in (("vocab_size", matrix.shape[0]), ("embedding_dim", matrix.shape[1])):
            given = config.pop(key, size)  # both come from the matrix [V, d]
            if given != size:
                raise RecipeError(
                    f"{recipe.source}: model.config.{key}={given}, but the GloVe matrix for the data's vocabulary "
                    f"({path}) is {tuple(matrix.shape)}; remove {key} or make it {size}"
                )
        return model_class.from_embeddings(matrix, **config)
    return model_class(model_class.config_class(**config))


def task_of(model: Any) -> str:
    """``"multi_label"`` for ``problem_type == "multi_label_classification"``, else ``"single_label"``."""
    return "multi_label" if model.config.problem_type == "multi_label_classification" else "single_label"


def build_trainer(recipe: Recipe, model: Any, args: Any, datasets: Any) -> Any:
    """A ``ChallengerTrainer`` (``MixupChallengerTrainer`` when the recipe has ``mixup``) with the
    paper's metrics as ``compute_metrics`` and the validation split (if any) for evaluation. A
    checkpoint recipe's tokenizer or image processor is the ``processing_class``: saved with the
    model, and for text the collator pads each batch to its longest row."""
    from ..metrics import make_compute_metrics

    evaluation = recipe.evaluation
    task = task_of(model)
    metric_options: dict[str, Any] = {"n_bins": evaluation.n_bins}
    if task == "multi_label":
        metric_options.update(n_resamples=evaluation.n_resamples, confidence=evaluation.confidence)
    kwargs: dict[str, Any] = {
        "model": model,
        "args": args,
        "train_dataset": datasets["train"],
        "eval_dataset": datasets.get("validation"),
        "compute_metrics": make_compute_metrics(task, **metric_options),
    }
    if recipe.checkpoint is not None:
        kwargs["processing_class"] = recipe_processor(recipe)
    if recipe.mixup_alpha is not None:
        from ..mixup import MixupChallengerTrainer

        return MixupChallengerTrainer(mixup_alpha=recipe.mixup_alpha, **kwargs)
    from ..trainer import ChallengerTrainer

    return ChallengerTrainer(**kwargs)
