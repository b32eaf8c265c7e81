"""One Challenger step's plan for a micro-batch: target draw, attribution, selection and the edit.

:class:`ChallengePlanner` takes a prepared micro-batch and returns a :class:`ChallengePlan`: the edit
of the attributed tensor and the site (batch key or hooked module) it applies at. The trainer only
applies the plan around ``Trainer.training_step``; the parts of the step (:mod:`.targets`,
:mod:`.selection`, :mod:`.perturbation`, :mod:`.adversarial`, :mod:`.sites`, the non-finite checks of
:mod:`.finite` and the metrics of :mod:`.stats`) meet here, so the trainer and these parts never call
each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..config import ChallengerConfig
from ..lrp import EpsilonLRP
from ..lrp.modes import frozen_eval
from .adversarial import adversarial_delta
from .finite import ATTACK_LOSS, FiniteGuard, check_knobs_fit
from .perturbation import RowEdit, challenge_shift
from .selection import candidate_mask, coin_flips, degenerate_rows, select_features
from .sites import InputSite, ModuleSite, attributed_module, input_key_of, sequence_first
from .stats import ChallengerStats
from .targets import draw_label_targets, draw_topk_targets

Edit = Callable[[Tensor], Tensor]


@dataclass
class ChallengePlan:
    """What :meth:`ChallengePlanner.plan` decided for one micro-batch.

    Attributes:
        edit: maps the attributed tensor ``[B, *F]`` to its challenged version (same shape; rows after
            the challenged ones unchanged); ``None``: the micro-batch is trained unchanged.
        site: where ``edit`` applies (the batch tensor, or a module's output through its hook).
    """

    edit: Edit | None
    site: InputSite | ModuleSite | None

    @contextmanager
    def applied(self, inputs: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        """Within the block, ``inputs`` as the model should see them: edited at the site, or as they are."""
        if self.edit is None:
            yield inputs
            return
        with self.site.editing(inputs, self.edit) as edited:
            yield edited


class ChallengePlanner:
    """Plans the challenge of each training micro-batch (steps 1-4 of :class:`~hf_challenger.ChallengerTrainer`).

    It holds what persists across steps: the site and the LRP engine of the bound model (created once per
    model; their hooks stay until :meth:`remove`), the resolved input key, and the dtypes whose knobs were
    checked. Randomness comes from ``generator`` in a fixed order per step (targets, coin flips, tie
    breaks; random selection and the PGD start draw from it too), so a seed gives the same plan.

    Args:
        config: the method's knobs (read at every step; the engine's knobs when a model is bound).
        generator: the source of every random draw.
        stats: where the step's metrics are added.
        finite: the non-finite checks of relevance and attack loss.
        label_keys: returns the batch keys that hold labels (never attributed or perturbed).
        warn_once: ``warn_once(key, message)`` warns the first time ``key`` is given.
        feature_mask: bool, broadcastable to one row of the attributed tensor; ``False``: never challenged.
    """

    def __init__(
        self,
        config: ChallengerConfig,
        *,
        generator: torch.Generator,
        stats: ChallengerStats,
        finite: FiniteGuard,
        label_keys: Callable[[], set[str]],
        warn_once: Callable[[str, str], None],
        feature_mask: Tensor | None = None,
    ) -> None:
        self.config = config
        self.generator = generator
        self.stats = stats
        self.finite = finite
        self.label_keys = label_keys
        self.warn_once = warn_once
        self.feature_mask = feature_mask
        #: ``(step, bool [R])`` of challenged rows with degenerate relevance, until the trainer has warned.
        self.degenerate: list[tuple[int, Tensor]] = []
        self.watch_degenerate = True
        self.bound_model: nn.Module | None = None
        self.site: InputSite | ModuleSite | None = None
        self.lrp: EpsilonLRP | None = None
        self.at: nn.Module | None = None
        self.input_key: str | None = None
        self._fitted_dtypes: set[torch.dtype] = set()

    # ------------------------------------------------------------------ binding

    def bind(self, base: nn.Module, inputs: Mapping[str, Any] | None = None) -> None:
        """Create the site and the LRP engine once per model; they are kept across steps.

        Called when the trainer is built (so a module site's hook is on the model before an engine
        wraps or compiles it) and at each challenged step; the input key is resolved from the first
        batch when the model does not name it.
        """
        cfg = self.config
        if base is not self.bound_model:
            self.remove()
            self.input_key = None
            self.at = attributed_module(base, cfg.attribution_target)
            self.site = None if self.at is None else ModuleSite(self.at)
            needs_lrp = cfg.perturbation == "challenger" and cfg.selection == "lrp"
            self.lrp = (
                EpsilonLRP(
                    base, epsilon=cfg.epsilon, attention_rule=cfg.attention_rule, unknown_layers=cfg.unknown_layers
                )
                if needs_lrp
                else None
            )
            self.bound_model = base
        if self.input_key is None and inputs is not None:
            self.input_key = input_key_of(base, inputs, self.label_keys(), cfg.input_key)
            if self.site is None:
                self.site = InputSite(self.input_key)
            else:
                self.site.key = self.input_key  # tells a sequence-first output from a batch-first one

    def remove(self) -> None:
        """Take the site's and the LRP engine's hooks off the model (the next :meth:`bind` creates them again)."""
        for part in (self.site, self.lrp):
            if part is not None:
                part.remove()
        self.site, self.lrp, self.bound_model = None, None, None

    def check_knobs_fit(self, dtype: torch.dtype, source: str) -> None:
        """:func:`~hf_challenger.challenge.finite.check_knobs_fit` once per dtype."""
        if dtype not in self._fitted_dtypes:
            check_knobs_fit(self.config, dtype, source)
            self._fitted_dtypes.add(dtype)

    # ------------------------------------------------------------------ the plan

    def plan(self, base: nn.Module, inputs: Mapping[str, Any], step: int) -> ChallengePlan:
        """The plan for the prepared micro-batch ``inputs`` of optimizer step ``step`` on the unwrapped
        model ``base`` (bound first; the attribution pass or FGSM/PGD attack runs here)."""
        self.bind(base, inputs)
        return ChallengePlan(self._edit(base, inputs, step), self.site)

    def _edit(self, base: nn.Module, inputs: Mapping[str, Any], step: int) -> Edit | None:
        """The edit of the attributed tensor for this micro-batch, or ``None`` if none applies."""
        cfg = self.config
        if self.input_key not in inputs or not torch.is_tensor(inputs[self.input_key]):
            raise KeyError(
                f"the batch has no tensor under {self.input_key!r} (keys: {sorted(inputs)}); set "
                "challenger_input_key to the model input"
            )
        if self.at is None:
            where = f"the dtype of the attributed tensor {self.input_key!r}"
            self.check_knobs_fit(inputs[self.input_key].dtype, where)
        batch = inputs[self.input_key].shape[0]
        n_a, n_b = cfg.rows(batch)
        rows = n_a + n_b
        self.stats.add("rows", batch)
        if rows == 0:
            if cfg.fraction_a == 0 and cfg.fraction_b == 0:
                why = "fraction_a and fraction_b are both 0, so no row of any micro-batch is challenged"
            else:
                why = (
                    f"a micro-batch of {batch} row(s) is too small to split with fraction_a={cfg.fraction_a}, "
                    f"fraction_b={cfg.fraction_b} (0 rows challenged)"
                )
            self.warn_once("small", f"{why}: it is trained unchallenged")
            return None
        if rows == batch and cfg.fraction_a + cfg.fraction_b < 1:
            self.warn_once(
                "no_clean",
                f"a micro-batch of {batch} row(s) splits {n_a}/{n_b}/0 with fraction_a={cfg.fraction_a}, "
                f"fraction_b={cfg.fraction_b}: every row is challenged and none is left clean; use micro-batches of "
                "at least 3 rows (4 or more for the intended shares), or dataloader_drop_last=True if only the last "
                "batch of an epoch is this small",
            )
        self.stats.add("challenged_rows", rows)
        self.stats.add("challenged_batches", 1)
        sub = head_rows(inputs, batch, rows)
        if cfg.perturbation == "challenger" and cfg.selection == "lrp":
            return self.lrp_edit(sub, n_a, n_b, step).apply
        if cfg.perturbation == "challenger":
            return self._random_edit(sub, n_a, n_b)
        return self._adversarial_edit(base, sub, rows, step).apply

    def lrp_edit(self, sub: dict[str, Any], n_a: int, n_b: int, step: int) -> RowEdit:
        """The edit of rows A and B (the ``n_a + n_b`` rows of ``sub``) chosen by their LRP relevance."""
        cfg = self.config
        gen = self.generator

        labels = self._target_labels(sub) if cfg.target_source == "labels" else None

        def select(logits: Tensor) -> Tensor:
            if labels is not None:
                return draw_label_targets(labels, logits, cfg.top_k, gen)
            return draw_topk_targets(logits, cfg.top_k, gen)

        attribution_inputs = {k: v for k, v in sub.items() if k not in self.label_keys()}
        with self.stats.timed():
            relevance = self.lrp.attribute_with_logits(
                attribution_inputs, select, at=self.at, input_key=self.input_key if self.at is None else None
            ).relevance
        if sequence_first(relevance, tuple(sub[self.input_key].shape)):  # XLNet's [L, B, D] embeddings
            relevance = relevance.transpose(0, 1)
        self.finite.check(relevance, step, self.bound_model, sub)  # NaN/inf: error
        allowed = self._allowed(sub, relevance.shape, relevance.device)
        mask = self._select(relevance, allowed, coin_flips(n_a + n_b, gen, relevance.device))
        self.record_relevance(relevance, allowed, step)
        shift = challenge_shift(n_a, n_b, cfg.alpha, cfg.beta, relevance)
        return RowEdit(n_a + n_b, shift, mask, cfg.perturbation_units, allowed)

    def _random_edit(self, sub: dict[str, Any], n_a: int, n_b: int) -> Edit:
        """Random selection needs no attribution; the mask is drawn when the tensor's shape is known."""
        cfg = self.config
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

    def _adversarial_edit(self, base: nn.Module, sub: dict[str, Any], rows: int, step: int) -> RowEdit:
        cfg = self.config
        pgd = cfg.perturbation == "pgd"

        losses: list[Tensor] = []

        def loss_of(edit: Edit) -> Tensor:
            with frozen_eval(base), self.site.editing(sub, edit) as edited:
                losses.append(loss_of_outputs(base(**edited)))
                return losses[-1]

        with self.stats.timed():
            delta, allowed = adversarial_delta(
                loss_of,
                lambda shape, device: self._allowed(sub, shape, device),
                epsilon=cfg.adversarial_epsilon,
                steps=cfg.adversarial_steps if pgd else 1,
                step_size=cfg.pgd_step_size if pgd else cfg.adversarial_epsilon,
                random_start=pgd,
                generator=self.generator,
            )
        self.finite.check(torch.stack(losses).sum(), step, base, sub, ATTACK_LOSS)  # NaN/inf: error
        self.stats.add("changed_share", allowed.float().mean())
        return RowEdit(rows, delta, allowed)

    # ------------------------------------------------------------------ helpers

    def _target_labels(self, sub: Mapping[str, Any]) -> Tensor:
        """The challenged rows' labels, for ``target_source="labels"``."""
        keys = self.label_keys()
        for key in sorted(keys):
            if torch.is_tensor(sub.get(key)):
                return sub[key]
        raise KeyError(
            f"challenger_target_source='labels' needs the batch's labels; it has none under "
            f"{sorted(keys)} (keys: {sorted(sub)})"
        )

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
        cfg = self.config
        rows, total = scores.shape[0], scores[0].numel()
        num = cfg.features_per_row(total)
        if num > total:
            self.warn_once(
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
            self.stats.add("short_rows", (candidates < wanted).sum())
        mask = select_features(scores, num, allowed, largest, self.generator, limit=limit)
        self.stats.add("changed_share", mask.float().mean())
        return mask

    def record_relevance(self, relevance: Tensor, allowed: Tensor | None, step: int) -> None:
        """Add the relevance ``[R, *F]`` statistics of a step's challenged rows (degenerate rows, mean |R|)."""
        degenerate = degenerate_rows(relevance, allowed)
        self.stats.add("degenerate_rows", degenerate.sum())
        if self.watch_degenerate:  # read at the next log, which syncs anyway
            self.degenerate.append((step, degenerate))
        magnitude = relevance.detach().abs()
        if allowed is None:
            self.stats.add("abs_relevance", magnitude.mean())
        else:
            self.stats.add("abs_relevance", (magnitude * allowed).sum() / allowed.sum().clamp(min=1))
        self.stats.add("relevance_batches", 1)


def head_rows(inputs: Mapping[str, Any], batch: int, rows: int) -> dict[str, Any]:
    """The first ``rows`` rows of every per-row tensor of ``inputs`` (``[batch, ...]``; others passed unchanged)."""
    return {
        key: value[:rows] if torch.is_tensor(value) and value.dim() > 0 and value.shape[0] == batch else value
        for key, value in inputs.items()
    }


def loss_of_outputs(outputs: Any) -> Tensor:
    """The 0-d loss of a model's outputs (a ``loss`` entry, or a scalar first item), for FGSM/PGD."""
    loss = outputs.get("loss") if isinstance(outputs, Mapping) else None
    if loss is None and isinstance(outputs, (tuple, list)) and outputs and torch.is_tensor(outputs[0]):
        loss = outputs[0] if outputs[0].dim() == 0 else None
    if loss is None:
        raise ValueError(
            "FGSM/PGD need the model to return a loss when called with labels (a 'loss' entry or a scalar "
            "first item); this model returned none"
        )
    return loss
