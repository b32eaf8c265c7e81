"""``ChallengerTrainer``: ``transformers.Trainer`` that trains with Challenger (arXiv 2205.15094).

Swap it in for ``Trainer`` and ``ChallengerTrainingArguments`` for ``TrainingArguments``; nothing
else in a training script changes. Only :meth:`ChallengerTrainer.training_step` differs: it edits
the micro-batch, then calls ``Trainer.training_step`` on the edited batch, so autocast, gradient
accumulation, DDP ``no_sync`` and loss scaling all stay ``Trainer``'s own. Its logging, checkpoint
and entry-check overrides live in :mod:`hf_challenger.trainer_records`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from transformers import TrainingArguments

from .challenge import (
    InputSite,
    ModuleSite,
    RowEdit,
    adversarial_delta,
    attributed_module,
    candidate_mask,
    challenge_shift,
    coin_flips,
    degenerate_rows,
    draw_label_targets,
    draw_topk_targets,
    input_key_of,
    select_features,
    sequence_first,
)
from .challenge.finite import ATTACK_LOSS, LOSS, FiniteGuard, check_knobs_fit
from .challenge.stats import ChallengerStats
from .config import ChallengerConfig
from . import models  # noqa: F401  (registers the package's models with the Auto classes)
from .fields import parse_bool
from .lrp import EpsilonLRP, unwrap_model
from .lrp.modes import frozen_eval
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
        self.challenger_config = challenger_config
        self.challenger_enabled = parse_bool("challenger_enabled", getattr(self.args, "challenger_enabled", True))
        if feature_mask is not None and (not torch.is_tensor(feature_mask) or feature_mask.dtype != torch.bool):
            raise TypeError("feature_mask must be a bool tensor (True = may be challenged)")
        self.feature_mask = feature_mask
        if self.challenger_enabled and self.model is not None:
            refuse_unsupported_task(self.accelerator.unwrap_model(self.model))  # token/multiple choice/regression
        self._fitted_dtypes: set[torch.dtype] = set()
        weights = [p for p in (self.model.parameters() if self.model is not None else ()) if p.is_floating_point()]
        if self.challenger_enabled and weights:  # the attributed tensor has the model's dtype (checked again per input)
            self._check_knobs_fit(weights[0].dtype, "the model's dtype, which its attributed tensor has")
        self.challenger_generator = torch.Generator(device=self.args.device)
        self.challenger_generator.manual_seed(int(self.args.seed) + int(self.args.process_index))
        self.challenger_stats = ChallengerStats(self.args.device)
        self._finite = FiniteGuard()
        self._bound_model: nn.Module | None = None
        self._site: InputSite | ModuleSite | None = None
        self._lrp: EpsilonLRP | None = None
        self._input_key: str | None = None
        self._warned: set[str] = set()
        self._degenerate: list[tuple[int, Tensor]] = []  # (step, bool [R]) until the warning is given
        if self.challenger_enabled and self.model is not None:
            self._bind(unwrap_model(self.model), None)

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
            inputs, edit = self.plan_challenge(model, inputs)
            if edit is None:
                loss = super().training_step(model, inputs, num_items_in_batch)
            else:
                with self._site.editing(inputs, edit) as edited:
                    loss = super().training_step(model, edited, num_items_in_batch)
        self._finite.check_training(loss, self.state.global_step, self.model, inputs, LOSS)  # NaN/inf: error
        return loss

    def plan_challenge(
        self, model: nn.Module, inputs: Mapping[str, Any]
    ) -> tuple[dict[str, Any], Callable[[Tensor], Tensor] | None]:
        """The prepared micro-batch and the edit of its attributed tensor (``None``: trained unchanged),
        planned as a training step plans them (attribution pass included), without training."""
        inputs = self._prepare_inputs(inputs)
        base = unwrap_model(self.accelerator.unwrap_model(model))
        self._bind(base, inputs)
        return inputs, self._plan_edit(base, inputs)

    def remove_challenger_hooks(self) -> None:
        """Take the site's and the LRP engine's hooks off the model (the next step binds again)."""
        for part in (self._site, self._lrp):
            if part is not None:
                part.remove()
        self._site, self._lrp, self._bound_model = None, None, None

    def _bind(self, base: nn.Module, inputs: Mapping[str, Any] | None) -> None:
        """Create the site and the LRP engine once per model; they are kept across steps.

        Called when the trainer is built (so a module site's hook is on the model before an engine
        wraps or compiles it) and at each challenged step; the input key is resolved from the first
        batch when the model does not name it.
        """
        cfg = self.challenger_config
        if base is not self._bound_model:
            self.remove_challenger_hooks()
            self._input_key = None
            self._at = attributed_module(base, cfg.attribution_target)
            self._site = None if self._at is None else ModuleSite(self._at)
            needs_lrp = cfg.perturbation == "challenger" and cfg.selection == "lrp"
            self._lrp = (
                EpsilonLRP(
                    base, epsilon=cfg.epsilon, attention_rule=cfg.attention_rule, unknown_layers=cfg.unknown_layers
                )
                if needs_lrp
                else None
            )
            self._bound_model = base
        if self._input_key is None and inputs is not None:
            self._input_key = input_key_of(base, inputs, self._label_keys(), cfg.input_key)
            if self._site is None:
                self._site = InputSite(self._input_key)
            else:
                self._site.key = self._input_key  # tells a sequence-first output from a batch-first one

    def _plan_edit(self, base: nn.Module, inputs: Mapping[str, Any]) -> Callable[[Tensor], Tensor] | None:
        """The edit of the attributed tensor for this micro-batch, or ``None`` if none applies."""
        cfg = self.challenger_config
        if self._input_key not in inputs or not torch.is_tensor(inputs[self._input_key]):
            raise KeyError(
                f"the batch has no tensor under {self._input_key!r} (keys: {sorted(inputs)}); set "
                "challenger_input_key to the model input"
            )
        if self._at is None:
            where = f"the dtype of the attributed tensor {self._input_key!r}"
            self._check_knobs_fit(inputs[self._input_key].dtype, where)
        batch = inputs[self._input_key].shape[0]
        n_a, n_b = cfg.rows(batch)
        rows = n_a + n_b
        self.challenger_stats.add("rows", batch)
        if rows == 0:
            if cfg.fraction_a == 0 and cfg.fraction_b == 0:
                why = "fraction_a and fraction_b are both 0, so no row of any micro-batch is challenged"
            else:
                why = (
                    f"a micro-batch of {batch} row(s) is too small to split with fraction_a={cfg.fraction_a}, "
                    f"fraction_b={cfg.fraction_b} (0 rows challenged)"
                )
            self._warn_once("small", f"{why}: it is trained unchallenged")
            return None
        if rows == batch and cfg.fraction_a + cfg.fraction_b < 1:
            self._warn_once(
                "no_clean",
                f"a micro-batch of {batch} row(s) splits {n_a}/{n_b}/0 with fraction_a={cfg.fraction_a}, "
                f"fraction_b={cfg.fraction_b}: every row is challenged and none is left clean; use micro-batches of "
                "at least 3 rows (4 or more for the intended shares), or dataloader_drop_last=True if only the last "
                "batch of an epoch is this small",
            )
        self.challenger_stats.add("challenged_rows", rows)
        self.challenger_stats.add("challenged_batches", 1)
        sub = self._head_rows(inputs, batch, rows)
        if cfg.perturbation == "challenger" and cfg.selection == "lrp":
            return self._lrp_edit(sub, n_a, n_b).apply
        if cfg.perturbation == "challenger":
            return self._random_edit(sub, n_a, n_b)
        return self._adversarial_edit(base, sub, rows).apply

    def _lrp_edit(self, sub: dict[str, Any], n_a: int, n_b: int) -> RowEdit:
        cfg = self.challenger_config
        gen = self.challenger_generator

        labels = self._target_labels(sub) if cfg.target_source == "labels" else None

        def select(logits: Tensor) -> Tensor:
            if labels is not None:
                return draw_label_targets(labels, logits, cfg.top_k, gen)
            return draw_topk_targets(logits, cfg.top_k, gen)

        attribution_inputs = {k: v for k, v in sub.items() if k not in self._label_keys()}
        with self.challenger_stats.timed():
            relevance = self._lrp.attribute_with_logits(
                attribution_inputs, select, at=self._at, input_key=self._input_key if self._at is None else None
            ).relevance
        if sequence_first(relevance, tuple(sub[self._input_key].shape)):  # XLNet's [L, B, D] embeddings
            relevance = relevance.transpose(0, 1)
        self._finite.check(relevance, self.state.global_step, self._bound_model, sub)  # NaN/inf: error
        allowed = self._allowed(sub, relevance.shape, relevance.device)
        mask = self._select(relevance, allowed, coin_flips(n_a + n_b, gen, relevance.device))
        self._record_relevance(relevance, allowed)
        shift = challenge_shift(n_a, n_b, cfg.alpha, cfg.beta, relevance)
        return RowEdit(n_a + n_b, shift, mask, cfg.perturbation_units, allowed)

    def _random_edit(self, sub: dict[str, Any], n_a: int, n_b: int) -> Callable[[Tensor], Tensor]:
        """Random selection needs no attribution; the mask is drawn when the tensor's shape is known."""
        cfg = self.challenger_config
        made: list[RowEdit] = []

        def edit(tensor: Tensor) -> Tensor:
            if not made:  # first call of this step (a recomputing forward reuses the same draw)
                shape = (n_a + n_b,) + tuple(tensor.shape[1:])
                allowed = self._allowed(sub, torch.Size(shape), tensor.device)
                scores = torch.zeros(shape, device=tensor.device)  # all tied: the tie break is the draw
                mask = self._select(scores, allowed, None)
                shift = challenge_shift(n_a, n_b, cfg.alpha, cfg.beta, tensor)
                made.append(RowEdit(n_a + n_b, shift, mask, cfg.perturbation_units, allowed))
            return made[0].apply(tensor)

        return edit

    def _adversarial_edit(self, base: nn.Module, sub: dict[str, Any], rows: int) -> RowEdit:
        cfg = self.challenger_config
        pgd = cfg.perturbation == "pgd"

        losses: list[Tensor] = []

        def loss_of(edit: Callable[[Tensor], Tensor]) -> Tensor:
            with frozen_eval(base), self._site.editing(sub, edit) as edited:
                losses.append(self._loss_of_outputs(base(**edited)))
                return losses[-1]

        with self.challenger_stats.timed():
            delta, allowed = adversarial_delta(
                loss_of,
                lambda shape, device: self._allowed(sub, shape, device),
                epsilon=cfg.adversarial_epsilon,
                steps=cfg.adversarial_steps if pgd else 1,
                step_size=cfg.pgd_step_size if pgd else cfg.adversarial_epsilon,
                random_start=pgd,
                generator=self.challenger_generator,
            )
        self._finite.check(torch.stack(losses).sum(), self.state.global_step, base, sub, ATTACK_LOSS)  # NaN/inf: error
        self.challenger_stats.add("changed_share", allowed.float().mean())
        return RowEdit(rows, delta, allowed)

    # ------------------------------------------------------------------ helpers

    def _label_keys(self) -> set[str]:
        # ``target_values``: the labels of transformers' time-series classifiers (PatchTST, PatchTSMixer)
        return set(getattr(self, "label_names", None) or ["labels"]) | {"labels", "label", "target_values"}

    def _target_labels(self, sub: Mapping[str, Any]) -> Tensor:
        """The challenged rows' labels, for ``target_source="labels"``."""
        for key in sorted(self._label_keys()):
            if torch.is_tensor(sub.get(key)):
                return sub[key]
        raise KeyError(
            f"challenger_target_source='labels' needs the batch's labels; it has none under "
            f"{sorted(self._label_keys())} (keys: {sorted(sub)})"
        )

    @staticmethod
    def _head_rows(inputs: Mapping[str, Any], batch: int, rows: int) -> dict[str, Any]:
        """The first ``rows`` rows of every per-row tensor of ``inputs`` (others passed unchanged)."""
        return {
            key: value[:rows] if torch.is_tensor(value) and value.dim() > 0 and value.shape[0] == batch else value
            for key, value in inputs.items()
        }

    def _allowed(self, sub: Mapping[str, Any], shape: torch.Size, device: torch.device) -> Tensor | None:
        attention = sub.get("attention_mask")
        attention = attention if torch.is_tensor(attention) else None
        if self.feature_mask is not None and self.feature_mask.device != device:
            self.feature_mask = self.feature_mask.to(device)
        return candidate_mask(shape, attention_mask=attention, feature_mask=self.feature_mask, device=device)

    def _select(self, scores: Tensor, allowed: Tensor | None, largest: Tensor | None) -> Tensor:
        """The features to change per row (bool, shaped like ``scores`` ``[R, *F]``); records stats.

        A count N is clamped to the row size (warning once); a fraction applies to each row's
        candidates (all features, or those left by padding and ``feature_mask``), rounded half up,
        at least 1.
        """
        cfg = self.challenger_config
        rows, total = scores.shape[0], scores[0].numel()
        num = cfg.features_per_row(total)
        if num > total:
            self._warn_once(
                "clamp",
                f"num_features={cfg.num_features} exceeds the {total} attributed features of a row; using all {total}",
            )
            num = total
        limit = None
        if allowed is not None:
            candidates = allowed.reshape(rows, -1).sum(dim=1)
            wanted = torch.full_like(candidates, num)
            if isinstance(cfg.num_features, float):
                wanted = (candidates * cfg.num_features + 0.5).floor().long().clamp(min=1, max=num)
                limit = wanted
            self.challenger_stats.add("short_rows", (candidates < wanted).sum())
        mask = select_features(scores, num, allowed, largest, self.challenger_generator, limit=limit)
        self.challenger_stats.add("changed_share", mask.float().mean())
        return mask

    def _record_relevance(self, relevance: Tensor, allowed: Tensor | None) -> None:
        degenerate = degenerate_rows(relevance, allowed)
        self.challenger_stats.add("degenerate_rows", degenerate.sum())
        if "degenerate" not in self._warned:  # read at the next log, which syncs anyway
            self._degenerate.append((self.state.global_step, degenerate))
        magnitude = relevance.detach().abs()
        if allowed is None:
            self.challenger_stats.add("abs_relevance", magnitude.mean())
        else:
            self.challenger_stats.add("abs_relevance", (magnitude * allowed).sum() / allowed.sum().clamp(min=1))
        self.challenger_stats.add("relevance_batches", 1)

    @staticmethod
    def _loss_of_outputs(outputs: Any) -> Tensor:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else None
        if loss is None and isinstance(outputs, (tuple, list)) and outputs and torch.is_tensor(outputs[0]):
            loss = outputs[0] if outputs[0].dim() == 0 else None
        if loss is None:
            raise ValueError(
                "FGSM/PGD need the model to return a loss when called with labels (a 'loss' entry or a scalar "
                "first item); this model returned none"
            )
        return loss

    def _check_knobs_fit(self, dtype: torch.dtype, source: str) -> None:
        """``check_knobs_fit`` once per dtype (:mod:`hf_challenger.challenge.finite`)."""
        if dtype not in self._fitted_dtypes:
            check_knobs_fit(self.challenger_config, dtype, source)
            self._fitted_dtypes.add(dtype)
