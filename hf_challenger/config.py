"""The knobs of the Challenger method, validated in one place.

:class:`ChallengerConfig` is what :class:`~hf_challenger.ChallengerTrainer` reads. Users usually set
the same values as ``challenger_*`` fields of :class:`~hf_challenger.ChallengerTrainingArguments`
and get the config from ``args.challenger_config()``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from .fields import coerce_fields

SELECTIONS = ("lrp", "random")
PERTURBATIONS = ("challenger", "fgsm", "pgd")
PERTURBATION_UNITS = ("absolute", "std")
BUILTIN_TARGETS = ("input", "embeddings")
ATTENTION_RULES = ("attnlrp", "cp")
UNKNOWN_LAYER_POLICIES = ("error", "gradient")
TARGET_SOURCES = ("predicted", "labels")


def parse_num_features(value: int | float | str, name: str = "num_features") -> int | float:
    """Read ``num_features`` as a count (``int``) or a fraction (``float`` in (0, 1]).

    An integer (``128``, ``"128"``) is a count of features per row; a number written with a decimal
    point or exponent (``0.05``, ``"1.0"``, ``"5e-2"``) is a fraction of the attributed features of
    one row. ``bool`` is refused.

    Raises:
        ValueError: naming ``name``, for anything else, counts < 1 and fractions outside (0, 1].
    """
    allowed = "an integer count >= 1 or a fraction in (0, 1] written with a decimal point"
    if isinstance(value, bool):
        raise ValueError(f"{name} must be {allowed}; got the bool {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{name} must be {allowed}; got {text!r}") from None
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"{name} must be {allowed}; got the count {value}")
        return value
    if isinstance(value, float):
        if not (math.isfinite(value) and 0.0 < value <= 1.0):
            raise ValueError(
                f"{name} must be {allowed}; got the float {value!r} (a float is read as a fraction; "
                "write an integer without a decimal point for a count)"
            )
        return value
    raise ValueError(f"{name} must be {allowed}; got {value!r} of type {type(value).__name__}")


@dataclass
class ChallengerConfig:
    """Hyperparameters of one Challenger run (Tomani & Cremers, arXiv 2205.15094).

    Each micro-batch of ``B`` rows is split in order: rows ``[0, n_a)`` are challenge A, rows
    ``[n_a, n_a + n_b)`` challenge B, the rest stay clean, with ``n_a = floor(fraction_a * B + 0.5)``
    and ``n_b = min(floor(fraction_b * B + 0.5), B - n_a)`` (round half up). A micro-batch where
    ``n_a + n_b == 0`` (e.g. one row with the default fractions) is trained unchanged and the
    trainer warns once; it is never partially challenged.

    Attributes:
        top_k: each challenged row attributes a class drawn uniformly from its ``top_k`` largest
            logits (paper: 5 vision, 10 text and ECG). Must be >= 1 and at most the number of
            classes (checked at the first step; more is an error, not clamped).
        target_source: where the attributed class of a challenged row comes from: ``"predicted"``
            (the paper: drawn from the row's ``top_k`` largest logits, also for multi-label heads,
            whose labels are then not used) or ``"labels"`` (the row's true class; multi-label: drawn
            uniformly from its positive labels, and from the predicted top-K for a row without any).
        num_features: ``N``, the features changed per challenged row: an ``int`` count, or a
            ``float`` fraction in (0, 1] of each row's candidate features (its attributed features
            less padding and features outside the trainer's ``feature_mask``; rounded half up, at
            least 1). A count larger than a row's feature count is clamped to it with a warning
            (once). Features that may not be challenged are never chosen; a row with fewer
            candidates than the count gets all of them (logged as ``challenger_short_rows``,
            warned once).
        alpha: challenge A sets ``x - alpha`` on its selected features (>= 0).
        beta: challenge B sets ``x + beta`` on its selected features (>= 0).
        perturbation_units: units of ``alpha`` and ``beta``: ``"absolute"`` (those of the attributed
            tensor) or ``"std"`` (multiples of the standard deviation of the clean challenged rows'
            candidate features, estimated per micro-batch:
            :func:`~hf_challenger.challenge.perturbation.candidate_std`). Applies to
            ``perturbation="challenger"`` only; FGSM/PGD's ``adversarial_epsilon`` is absolute,
            so ``"std"`` with them is an error.
        fraction_a: share of the micro-batch in challenge A, in [0, 1].
        fraction_b: share in challenge B, in [0, 1]; ``fraction_a + fraction_b <= 1``.
        selection: ``"lrp"`` (top-N or bottom-N relevance, by a fair per-row coin flip) or
            ``"random"`` (N uniformly random candidates: the paper's ablation; no attribution pass).
        epsilon: stabiliser of the LRP epsilon rule (> 0).
        attention_rule: the LRP convention inside transformers models: ``"attnlrp"`` (AttnLRP,
            Achtibat et al. 2024: products of two activations such as q·kᵀ, attention·V and a gated
            MLP's act(gate)·up split relevance half and half; softmax keeps its gradient) or ``"cp"``
            (CP-LRP, Ali et al. 2022: attention weights and gates are constants). CNNs are unaffected.
        unknown_layers: ``"error"`` refuses a module or call the LRP engine has no rule for (naming
            it); ``"gradient"`` lets relevance flow through it as the gradient.
        attribution_target: ``"input"`` (the model input tensor, e.g. images or ECG),
            ``"embeddings"`` (the output of ``model.get_input_embeddings()``; text), or the dotted
            name of a submodule whose output is attributed and perturbed.
        input_key: batch key of the model input (``None``: ``model.main_input_name``, e.g.
            ``pixel_values``, ``input_values``, ``input_ids``).
        start_step: first optimizer step (``global_step``) that is challenged (>= 0).
        start_epoch: first epoch (``state.epoch``, may be fractional) that is challenged; ``None``
            means no epoch condition. Both conditions must hold (finetuning mode: load a trained
            model and keep its learning rate).
        perturbation: ``"challenger"`` (the method), or the adversarial-training baselines
            ``"fgsm"`` (one signed-gradient step of size ``adversarial_epsilon``) and ``"pgd"``
            (``adversarial_steps`` projected signed-gradient steps of ``adversarial_step_size``
            from a uniform random start in the L-inf ball of radius ``adversarial_epsilon``). The
            baselines perturb the same rows as challenges A and B (set ``fraction_a=1.0,
            fraction_b=0.0`` for whole-batch adversarial training) and never touch excluded
            features; the attack's gradients are taken on the model in eval mode with autocast off
            and without parameter gradients (like the attribution pass). ``selection``, ``alpha``,
            ``beta``, ``top_k`` and ``num_features`` do not apply to them.
        adversarial_epsilon: L-inf radius of FGSM/PGD, in units of the attributed tensor (> 0).
        adversarial_steps: PGD iterations (>= 1; FGSM always takes one step).
        adversarial_step_size: PGD step size (> 0); ``None`` means ``2.5 * epsilon / steps``.
    """

    top_k: int = 5
    target_source: str = "predicted"
    num_features: int | float = 0.05
    alpha: float = 0.5
    beta: float = 0.5
    perturbation_units: str = "absolute"
    fraction_a: float = 0.25
    fraction_b: float = 0.25
    selection: str = "lrp"
    epsilon: float = 1e-6
    attention_rule: str = "attnlrp"
    unknown_layers: str = "error"
    attribution_target: str = "input"
    input_key: str | None = None
    start_step: int = 0
    start_epoch: float | None = None
    perturbation: str = "challenger"
    adversarial_epsilon: float = 0.03
    adversarial_steps: int = 7
    adversarial_step_size: float | None = None

    def __post_init__(self) -> None:
        # "5", "1e-4" from text sources; bools as numbers refused. The range checks below refuse nan/inf.
        coerce_fields(self, finite=False)
        self.num_features = parse_num_features(self.num_features)
        _check_int("top_k", self.top_k, low=1, allowed="an integer >= 1")
        _check_float("alpha", self.alpha, low=0.0, allowed="a finite float >= 0")
        _check_float("beta", self.beta, low=0.0, allowed="a finite float >= 0")
        _check_float("fraction_a", self.fraction_a, low=0.0, high=1.0, allowed="a float in [0, 1]")
        _check_float("fraction_b", self.fraction_b, low=0.0, high=1.0, allowed="a float in [0, 1]")
        if self.fraction_a + self.fraction_b > 1.0 + 1e-12:
            raise ValueError(
                f"fraction_a + fraction_b must be <= 1 (the clean rest cannot be negative); got "
                f"fraction_a={self.fraction_a} + fraction_b={self.fraction_b} = "
                f"{self.fraction_a + self.fraction_b}"
            )
        _check_choice("selection", self.selection, SELECTIONS)
        _check_choice("target_source", self.target_source, TARGET_SOURCES)
        _check_choice("perturbation", self.perturbation, PERTURBATIONS)
        _check_choice("perturbation_units", self.perturbation_units, PERTURBATION_UNITS)
        if self.perturbation_units == "std" and self.perturbation != "challenger":
            raise ValueError(
                f"perturbation_units='std' scales alpha and beta of perturbation='challenger'; "
                f"perturbation={self.perturbation!r} uses adversarial_epsilon in absolute units: set "
                "perturbation_units='absolute'"
            )
        _check_float("epsilon", self.epsilon, low=0.0, low_open=True, allowed="a finite float > 0")
        _check_choice("attention_rule", self.attention_rule, ATTENTION_RULES)
        _check_choice("unknown_layers", self.unknown_layers, UNKNOWN_LAYER_POLICIES)
        if not isinstance(self.attribution_target, str) or not self.attribution_target.strip():
            raise ValueError(
                "attribution_target must be 'input', 'embeddings' or the dotted name of a submodule; "
                f"got {self.attribution_target!r}"
            )
        if self.input_key is not None and (not isinstance(self.input_key, str) or not self.input_key):
            raise ValueError(f"input_key must be None or a non-empty batch key; got {self.input_key!r}")
        _check_int("start_step", self.start_step, low=0, allowed="an integer >= 0")
        if self.start_epoch is not None:
            _check_float("start_epoch", self.start_epoch, low=0.0, allowed="None or a float >= 0")
        _check_float(
            "adversarial_epsilon", self.adversarial_epsilon, low=0.0, low_open=True, allowed="a finite float > 0"
        )
        _check_int("adversarial_steps", self.adversarial_steps, low=1, allowed="an integer >= 1")
        if self.adversarial_step_size is not None:
            _check_float(
                "adversarial_step_size",
                self.adversarial_step_size,
                low=0.0,
                low_open=True,
                allowed="None or a finite float > 0",
            )

    @property
    def pgd_step_size(self) -> float:
        """The PGD step size in use: ``adversarial_step_size`` or ``2.5 * epsilon / steps``."""
        if self.adversarial_step_size is not None:
            return float(self.adversarial_step_size)
        return 2.5 * self.adversarial_epsilon / self.adversarial_steps

    def rows(self, batch_size: int) -> tuple[int, int]:
        """Rows in challenge A and B of a micro-batch of ``batch_size`` rows (round half up).

        Returns:
            ``(n_a, n_b)`` with ``n_a + n_b <= batch_size``; A is ``[0, n_a)``, B ``[n_a, n_a+n_b)``.
        """
        n_a = min(int(math.floor(self.fraction_a * batch_size + 0.5)), batch_size)
        n_b = min(int(math.floor(self.fraction_b * batch_size + 0.5)), batch_size - n_a)
        return n_a, n_b

    def features_per_row(self, total: int) -> int:
        """``N`` for rows of ``total`` candidate features: the count, or the fraction rounded half up (>= 1).

        A count above ``total`` is returned unchanged; the caller clamps (and warns).
        """
        if isinstance(self.num_features, int):
            return self.num_features
        return max(1, int(math.floor(self.num_features * total + 0.5)))

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` of all fields (JSON-serialisable)."""
        return asdict(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of all fields, in declaration order."""
        return tuple(f.name for f in fields(cls))


def _check_int(name: str, value: Any, *, low: int, allowed: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be {allowed}; got {value!r}")


def _check_float(
    name: str,
    value: Any,
    *,
    low: float,
    allowed: str,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value > low if low_open else value >= low
        if high is not None:
            ok = ok and value <= high
    if not ok:
        raise ValueError(f"{name} must be {allowed}; got {value!r}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
