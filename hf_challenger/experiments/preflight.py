"""Checks before the first run of ``hf-challenger train``/``compare``: a bad value that only one arm
uses must fail in seconds, not after every earlier arm and seed has trained.

The training split must have rows. For every run's training fields the full
``ChallengerTrainingArguments`` are built (all field checks). For every arm with Challenger
enabled, a model is built from the recipe (once) and that arm's trainer plans one challenged
micro-batch from the real training data, exactly as its first step would (batch key and attributed
tensor, attribution target, ``top_k`` against the model's classes, padding masks, the LRP rules of
every layer that runs, the non-finite check, the FGSM/PGD loss), without training: the attribution pass leaves the model unchanged, the trainer is
thrown away, and every real run seeds and builds its own model as before, so results do not depend
on the check. The check trainer never pushes to the Hub, reports nowhere and writes nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import RecipeError
from .recipe_spec import Recipe

#: What a first step can raise for a bad setting (UnsupportedLayerError is a NotImplementedError; the
#: non-finite policy raises a FloatingPointError).
_STEP_ERRORS = (ValueError, TypeError, KeyError, IndexError, RuntimeError, FloatingPointError, NotImplementedError)


def check_runs(recipe: Recipe, runs: Sequence[tuple[str | None, Mapping[str, Any]]], datasets: Any) -> None:
    """Check every ``(arm, training fields)`` of ``runs`` on ``datasets`` before anything trains.

    Raises:
        RecipeError: naming the recipe, the arm and what its first run would have failed on.
    """
    from .build import build_model, build_trainer, build_training_arguments
    from ..guards import refuse_empty_dataset

    try:
        refuse_empty_dataset(datasets["train"])
    except ValueError as error:
        raise RecipeError(f"{recipe.source}: {error}") from None
    model = None
    checked: set[str | None] = set()
    for arm, values in runs:
        where = f"{recipe.source}: arm {arm!r}" if arm is not None else f"{recipe.source}: training"
        try:
            args = build_training_arguments(values)
        except ValueError as error:
            raise RecipeError(f"{where}: {error}") from error
        if not args.challenger_enabled or arm in checked:
            continue
        checked.add(arm)
        if model is None:
            model = build_model(recipe, datasets)
        with tempfile.TemporaryDirectory(prefix="hf-challenger-check-") as scratch:
            quiet = {**values, "output_dir": scratch, "push_to_hub": False, "report_to": "none"}
            try:  # the trainer refuses some values when it is built (e.g. an unknown attribution target)
                plan_first_step(build_trainer(recipe, model, build_training_arguments(quiet), datasets))
            except _STEP_ERRORS as error:
                raise RecipeError(
                    f"{where} would fail at its first Challenger step (checked before any run): "
                    f"{type(error).__name__}: {error}"
                ) from error


def plan_first_step(trainer: Any) -> None:
    """Plan (not train) the challenge of the trainer's first training micro-batch; hooks removed after."""
    batch = next(iter(trainer.get_train_dataloader()))
    try:
        trainer.plan_challenge(trainer.model, batch)
    finally:
        trainer.remove_challenger_hooks()
