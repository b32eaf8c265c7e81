"""The validated recipe: :class:`Recipe` and its :class:`Evaluation` section, as
:func:`~hf_challenger.experiments.recipe.parse_recipe` returns them (written back with
:meth:`Recipe.to_yaml`, merged per arm with :meth:`Recipe.arm_training`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import yaml

from ..fields import shown
from .errors import RecipeError


@dataclass(frozen=True)
class Evaluation:
    """How ``compare`` evaluates and draws.

    Attributes:
        n_bins: equal-width bins of ECE and the reliability diagrams (15, as the paper).
        n_resamples: bootstrap resamples of the macro-AUC interval (multi-label only; 0: none).
        confidence: coverage of that interval, in (0, 1).
        figure_samples: test examples shown in the attribution-map figure.
    """

    n_bins: int = 15
    n_resamples: int = 0
    confidence: float = 0.9
    figure_samples: int = 6


@dataclass(frozen=True)
class Recipe:
    """A validated recipe (the YAML layout is in :mod:`hf_challenger.experiments.recipe`)."""

    name: str
    model_class: str
    model_config: dict[str, Any]
    benchmark: str
    data_options: dict[str, Any]
    training: dict[str, Any]
    arms: dict[str, dict[str, Any]]
    description: str = ""
    glove_path: str | None = None
    checkpoint: Any = None  # hf_challenger.experiments.checkpoint.Checkpoint when the recipe finetunes one
    train_per_class: int | None = None
    subset_seed: int = 0
    train_per_class_strict: bool = True
    eval_per_class: int | None = None
    mixup_alpha: float | None = None
    evaluation: Evaluation = field(default_factory=Evaluation)
    source: str = "<mapping>"

    def to_dict(self) -> dict[str, Any]:
        """The recipe as the YAML mapping it was read from (defaults filled in)."""
        model: dict[str, Any] = {"class": self.model_class, "config": dict(self.model_config)}
        if self.checkpoint is not None:
            model = {**self.checkpoint.to_dict(), "config": dict(self.model_config)}
        if self.glove_path is not None:
            model["glove_path"] = self.glove_path
        data: dict[str, Any] = {"benchmark": self.benchmark, "options": dict(self.data_options)}
        if self.train_per_class is not None:
            data["train_per_class"] = self.train_per_class
            data["subset_seed"] = self.subset_seed
            if not self.train_per_class_strict:
                data["train_per_class_strict"] = False
        if self.eval_per_class is not None:
            data["eval_per_class"] = self.eval_per_class
            data["subset_seed"] = self.subset_seed
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "model": model,
            "data": data,
            "training": dict(self.training),
        }
        if self.mixup_alpha is not None:
            out["mixup"] = {"alpha": self.mixup_alpha}
        out["evaluation"] = {f.name: getattr(self.evaluation, f.name) for f in fields(Evaluation)}
        out["arms"] = {arm: dict(overrides) for arm, overrides in self.arms.items()}
        return out

    def to_yaml(self) -> str:
        """``to_dict`` as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def with_paths(self, data_dir: str | None = None, glove_path: str | None = None) -> Recipe:
        """A copy with ``data.options.data_dir`` and/or ``model.glove_path`` replaced (None: kept)."""
        changes: dict[str, Any] = {}
        if glove_path is not None and self.checkpoint is not None:
            raise RecipeError(
                f"{self.source}: a GloVe file does not apply to a checkpoint recipe (model.pretrained brings its "
                "own embeddings); drop --glove_path"
            )
        if data_dir is not None:
            changes["data_options"] = {**self.data_options, "data_dir": str(data_dir)}
        if glove_path is not None:
            changes["glove_path"] = str(glove_path)
        return replace(self, **changes)

    def arm_training(self, arm: str | None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Training fields of ``arm`` (``None``: the ``training`` section alone).

        Order, later winning: ``training``, ``overrides`` (e.g. from the command line), the
        arm's own overrides.
        """
        merged = dict(self.training)
        merged.update(overrides or {})
        if arm is not None:
            if arm not in self.arms:
                raise RecipeError(
                    f"recipe {shown(self.name)} ({self.source}) has no arm {shown(arm)}; allowed: "
                    f"{', '.join(self.arms)}"
                )
            merged.update(self.arms[arm])
        return merged
