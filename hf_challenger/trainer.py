"""``ChallengerTrainer``: ``transformers.Trainer`` that trains with Challenger (arXiv 2205.15094).

Swap it in for ``Trainer`` and ``ChallengerTrainingArguments`` for ``TrainingArguments``; nothing
else in a training script changes. Only :meth:`ChallengerTrainer.training_step` differs: it hands the
micro-batch to its :class:`~hf_challenger.challenge.planner.ChallengePlanner` (target draw,
attribution, selection, the edit), then calls ``Trainer.training_step`` with the returned plan applied,
so autocast, gradient accumulation, DDP ``no_sync`` and loss scaling all stay ``Trainer``'s own. Its
logging, checkpoint and entry-check overrides live in :mod:`hf_challenger.trainer_records`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from transformers import TrainingArguments

from .challenge.finite import LOSS, FiniteGuard
from .challenge.planner import ChallengePlan, ChallengePlanner
from .challenge.stats import ChallengerStats
from .config import ChallengerConfig
from . import models  # noqa: F401  (registers the package's models with the Auto classes)
from .fields import parse_bool
from .lrp import unwrap_model
from .tasks import refuse_unsupported_task

from .trainer_records import RNG_STATE_NAME, ChallengerRecords

__all__ = ["RNG_STATE_NAME", "ChallengerTrainer"]


class ChallengerTrainer(ChallengerRecords):
    """A drop-in ``transformers.Trainer`` that challenges each training micro-batch.

    Per micro-batch of ``B`` rows (while active: ``global_step >= start_step`` and, if set,
    ``state.epoch >= start_epoch``):

    1. rows A = the first ``n_a`` rows, rows B = the next ``n_b`` (see
       :meth:`ChallengerConfig.rows`); the other rows are left bit-identical;
    2. (``selection="lrp"``) one epsilon-LRP pass over rows A+B only, on the unwrapped model in
       eval mode and fp32 (no parameter ``.grad``, no BatchNorm update, modes restored), attributing
       per row a class drawn uniformly from its top-K logits of that same forward;
    3. per row a fair coin chooses the ``N`` highest or the ``N`` lowest relevance features
       (flattened over all feature dimensions; ties broken at random; padding and features outside
       ``feature_mask`` never chosen), or ``N`` random candidates (``selection="random"``);
    4. rows A get ``x - alpha`` and rows B ``x + beta`` on those features (with
       ``perturbation_units="std"``: alpha and beta times the std of the clean challenged rows'
       candidate features): on the input tensor, or on the output of the attributed module
       through a forward hook active only during this step;
    5. ``Trainer.training_step`` on the edited batch.

    With ``perturbation="fgsm"``/``"pgd"`` steps 2-4 are replaced by an L-inf attack on the same rows
    (see :class:`ChallengerConfig`). ``evaluate()``/``predict()`` never challenge.

    Randomness (targets, coin flips, tie breaks, random selection, PGD start) comes from one
    ``torch.Generator`` seeded with ``args.seed + args.process_index``; its state is saved in every
    checkpoint (``challenger_rng_state.pth``) and restored on resume, so a resumed run repeats an
    uninterrupted one. Metrics (see :class:`~hf_challenger.challenge.stats.ChallengerStats`) are added
    to the training logs, so callbacks and ``report_to`` integrations receive them.

    Args:
        *args, **kwargs: as for ``transformers.Trainer``.
        challenger_config: the method's knobs. Default: ``args.challenger_config()`` when ``args`` is
            a :class:`~hf_challenger.ChallengerTrainingArguments`, else ``ChallengerConfig()``. An
            explicit config takes precedence over the ``challenger_*`` arguments.
        feature_mask: bool tensor broadcastable to one row of the attributed tensor (e.g.
            ``[C, H, W]``); ``False`` marks features never challenged (e.g. zero-padded borders).

    Edge cases: a micro-batch with ``n_a + n_b == 0`` (e.g. a single row) is trained unchanged and
    a warning is issued once; one whose rows are all challenged although ``fraction_a + fraction_b < 1``
    (e.g. two rows: 1/1/0, no clean row) is trained so, warning once. A count ``N`` above a row's
    feature count is clamped to it (warning once); a row with fewer candidate features than the count
    gets all its candidates (counted in ``challenger_short_rows``, warning once); a fractional ``N``
    applies to each row's candidates.
    ``top_k`` above the number of classes is an error.
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        args: TrainingArguments | None = None,
        *trainer_args: Any,
        challenger_config: ChallengerConfig | None = None,
        feature_mask: Tensor | None = None,
        **trainer_kwargs: Any,
    ) -> None:
        super().__init__(model, args, *trainer_args, **trainer_kwargs)
        if challenger_config is None:
            make = getattr(self.args, "challenger_config", None)
            challenger_config = make() if callable(make) else ChallengerConfig()
        if not isinstance(challenger_config, ChallengerConfig):
            raise TypeError(f"challenger_config must be a ChallengerConfig, got {type(challenger_config).__name__}")
        self.challenger_enabled = parse_bool("challenger_enabled", getattr(self.args, "challenger_enabled", True))
        if feature_mask is not None and (not torch.is_tensor(feature_mask) or feature_mask.dtype != torch.bool):
            raise TypeError("feature_mask must be a bool tensor (True = may be challenged)")
        if self.challenger_enabled and self.model is not None:
            refuse_unsupported_task(self.accelerator.unwrap_model(self.model))  # token/multiple choice/regression
        self._warned: set[str] = set()
        self._finite = FiniteGuard()
        self.challenger_stats = ChallengerStats(self.args.device)
        generator = torch.Generator(device=self.args.device)
        #: Plans each challenged micro-batch (:class:`~hf_challenger.challenge.planner.ChallengePlanner`).
        self.challenger_planner = ChallengePlanner(
            challenger_config,
            generator=generator,
            stats=self.challenger_stats,
            finite=self._finite,
            label_keys=self._label_keys,
            warn_once=self._warn_once,
            feature_mask=feature_mask,
        )
        weights = [p for p in (self.model.parameters() if self.model is not None else ()) if p.is_floating_point()]
        if self.challenger_enabled and weights:  # the attributed tensor has the model's dtype (checked again per input)
            source = "the model's dtype, which its attributed tensor has"
            self.challenger_planner.check_knobs_fit(weights[0].dtype, source)
        generator.manual_seed(int(self.args.seed) + int(self.args.process_index))
        if self.challenger_enabled and self.model is not None:
            self.challenger_planner.bind(unwrap_model(self.model))

    @property
    def challenger_config(self) -> ChallengerConfig:
        """The method's knobs (the planner's; setting it takes effect at the next step)."""
        return self.challenger_planner.config

    @challenger_config.setter
    def challenger_config(self, config: ChallengerConfig) -> None:
        self.challenger_planner.config = config

    @property
    def feature_mask(self) -> Tensor | None:
        """Bool mask of the features that may be challenged (``None``: all), as given to the constructor."""
        return self.challenger_planner.feature_mask

    @feature_mask.setter
    def feature_mask(self, mask: Tensor | None) -> None:
        self.challenger_planner.feature_mask = mask

    @property
    def challenger_generator(self) -> torch.Generator:
        """The source of Challenger's random draws, seeded with ``args.seed + args.process_index``."""
        return self.challenger_planner.generator

    # ------------------------------------------------------------------ the step

    def challenge_active(self) -> bool:
        """Whether the next training micro-batch is challenged (enabled, start step and epoch reached)."""
        cfg = self.challenger_config
        if not self.challenger_enabled or self.state.global_step < cfg.start_step:
            return False
        return cfg.start_epoch is None or (self.state.epoch or 0.0) >= cfg.start_epoch

    def training_step(
        self,
        model: nn.Module,
        inputs: dict[str, Tensor | Any],
        num_items_in_batch: Tensor | int | None = None,
    ) -> Tensor:
        """Challenge the micro-batch (when active), then run ``Trainer.training_step`` on it."""
        if self.accelerator.sync_gradients:  # the last micro-batch of an optimizer step
            self.challenger_stats.count_optimizer_step()
        if not self.challenge_active():
            loss = super().training_step(model, inputs, num_items_in_batch)
        else:
            inputs, plan = self._plan(model, inputs)
            with plan.applied(inputs) as edited:
                loss = super().training_step(model, edited, num_items_in_batch)
        self._finite.check_training(loss, self.state.global_step, self.model, inputs, LOSS)  # NaN/inf: error
        return loss

    def plan_challenge(
        self, model: nn.Module, inputs: Mapping[str, Any]
    ) -> tuple[dict[str, Any], Callable[[Tensor], Tensor] | None]:
        """The prepared micro-batch and the edit of its attributed tensor (``None``: trained unchanged),
        planned as a training step plans them (attribution pass included), without training."""
        inputs, plan = self._plan(model, inputs)
        return inputs, plan.edit

    def remove_challenger_hooks(self) -> None:
        """Take the site's and the LRP engine's hooks off the model (the next step binds again)."""
        self.challenger_planner.remove()

    def _plan(self, model: nn.Module, inputs: Mapping[str, Any]) -> tuple[dict[str, Any], ChallengePlan]:
        """The prepared micro-batch and the planner's plan for it, on the unwrapped model."""
        inputs = self._prepare_inputs(inputs)
        base = unwrap_model(self.accelerator.unwrap_model(model))
        return inputs, self.challenger_planner.plan(base, inputs, self.state.global_step)

    # ------------------------------------------------------------------ helpers

    def _label_keys(self) -> set[str]:
        # ``target_values``: the labels of transformers' time-series classifiers (PatchTST, PatchTSMixer)
        return set(getattr(self, "label_names", None) or ["labels"]) | {"labels", "label", "target_values"}
