"""``TrainingArguments`` with the Challenger knobs as ``challenger_*`` fields.

Parse it like any ``TrainingArguments``::

    parser = HfArgumentParser(ChallengerTrainingArguments)
    (args,) = parser.parse_args_into_dataclasses()          # --challenger_alpha 0.5 ...
    (args,) = parser.parse_yaml_file("recipe.yaml")         # challenger_alpha: 0.5

The values are validated when the arguments are built (an error names the ``challenger_*``
field and the allowed range) and are saved with the rest of the arguments in every checkpoint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from transformers import TrainingArguments

from .config import ChallengerConfig, parse_num_features
from . import models  # noqa: F401  (registers the package's models with the Auto classes)
from .fields import coerce_fields
from .guards import check_trainer_ranges


@dataclass
class ChallengerTrainingArguments(TrainingArguments):
    """[`~transformers.TrainingArguments`] plus the Challenger method's hyperparameters.

    Every ``challenger_<name>`` field is the :class:`~hf_challenger.ChallengerConfig` field
    ``<name>`` (see there for the exact semantics); ``challenger_enabled=False`` turns the method
    off, so the trainer behaves exactly like ``transformers.Trainer`` (the baseline arm).
    """

    challenger_enabled: bool = field(
        default=True,
        metadata={"help": "Run Challenger during training. False gives plain `Trainer` behaviour (baseline arm)."},
    )
    challenger_top_k: int = field(
        default=5,
        metadata={
            "help": "Each challenged row attributes a class drawn uniformly from its top-k logits "
            "(paper: 5 vision, 10 text/ECG). Integer >= 1, at most the number of classes."
        },
    )
    # Typed `str` so that the argument parser keeps the int/float distinction of the command line
    # ("128" is a count, "0.05" a fraction); __post_init__ turns it into an int or a float.
    challenger_num_features: str = field(
        default="0.05",
        metadata={
            "help": "Features changed per challenged row: an integer count (e.g. 128) or a fraction in (0, 1] "
            "of the row's candidate (non-padding) features written with a decimal point (e.g. 0.05)."
        },
    )
    challenger_alpha: float = field(
        default=0.5, metadata={"help": "Challenge A subtracts alpha from its selected features (float >= 0)."}
    )
    challenger_beta: float = field(
        default=0.5, metadata={"help": "Challenge B adds beta to its selected features (float >= 0)."}
    )
    challenger_perturbation_units: str = field(
        default="absolute",
        metadata={
            "help": "Units of alpha and beta: 'absolute' (those of the attributed tensor) or 'std' (multiples of "
            "the standard deviation of the challenged rows' candidate features, estimated per micro-batch)."
        },
    )
    challenger_fraction_a: float = field(
        default=0.25,
        metadata={"help": "Share of each micro-batch (its first rows) in challenge A, in [0, 1]."},
    )
    challenger_fraction_b: float = field(
        default=0.25,
        metadata={
            "help": "Share of each micro-batch (the rows after A) in challenge B, in [0, 1]; "
            "fraction_a + fraction_b <= 1."
        },
    )
    challenger_target_source: str = field(
        default="predicted",
        metadata={
            "help": "The class each challenged row attributes: 'predicted' (drawn from its top-K logits, as the "
            "paper does, multi-label too) or 'labels' (its true class; multi-label: drawn from its positive labels)."
        },
    )
    challenger_selection: str = field(
        default="lrp",
        metadata={
            "help": "Feature selection: 'lrp' (top-N or bottom-N relevance by a per-row coin flip) or "
            "'random' (the paper's ablation)."
        },
    )
    challenger_epsilon: float = field(
        default=1e-6, metadata={"help": "Stabiliser of the LRP epsilon rule (float > 0)."}
    )
    challenger_attention_rule: str = field(
        default="attnlrp",
        metadata={
            "help": "LRP convention inside transformers models: 'attnlrp' (AttnLRP: products of two activations "
            "split relevance half and half) or 'cp' (CP-LRP: attention weights and gates held constant)."
        },
    )
    challenger_unknown_layers: str = field(
        default="error",
        metadata={
            "help": "A module or call the LRP engine has no rule for: 'error' (refused, naming it) or "
            "'gradient' (relevance flows through it as the gradient)."
        },
    )
    challenger_attribution_target: str = field(
        default="input",
        metadata={
            "help": "What is attributed and perturbed: 'input' (the input tensor: images, ECG), 'embeddings' "
            "(output of model.get_input_embeddings(): text) or the dotted name of a submodule."
        },
    )
    challenger_input_key: str | None = field(
        default=None,
        metadata={"help": "Batch key of the model input; default: the model's main_input_name."},
    )
    challenger_start_step: int = field(
        default=0, metadata={"help": "First optimizer step that is challenged (integer >= 0)."}
    )
    challenger_start_epoch: float | None = field(
        default=None,
        metadata={"help": "First epoch that is challenged (float >= 0; finetuning mode). Default: no epoch condition."},
    )
    challenger_perturbation: str = field(
        default="challenger",
        metadata={
            "help": "'challenger' (the method) or the adversarial-training baselines 'fgsm' and 'pgd' "
            "(on the same rows as challenges A and B)."
        },
    )
    challenger_adversarial_epsilon: float = field(
        default=0.03,
        metadata={"help": "L-inf radius of FGSM/PGD in units of the attributed tensor (float > 0)."},
    )
    challenger_adversarial_steps: int = field(
        default=7, metadata={"help": "PGD iterations (integer >= 1); FGSM always takes one step."}
    )
    challenger_adversarial_step_size: float | None = field(
        default=None,
        metadata={"help": "PGD step size (float > 0). Default: 2.5 * epsilon / steps."},
    )

    def __post_init__(self) -> None:
        # Every bool/int/float field (inherited ones too) read one way: "false" is False, "1e-4" is 1e-4,
        # anything else is an error naming the field (never Python truthiness, never later in transformers).
        coerce_fields(self)
        check_trainer_ranges(self)  # batch sizes, accumulation, rates: clear errors, not deep in torch
        super().__post_init__()
        self.challenger_num_features = parse_num_features(self.challenger_num_features, name="challenger_num_features")
        try:
            self.challenger_config()
        except ValueError as err:
            # Name the fields as the user wrote them: `top_k` -> `challenger_top_k`.
            names = "|".join(ChallengerConfig.field_names())
            raise ValueError(re.sub(rf"\b({names})\b", r"challenger_\1", str(err))) from None

    def challenger_config(self) -> ChallengerConfig:
        """The :class:`ChallengerConfig` given by the ``challenger_*`` fields (validated)."""
        values = {name: getattr(self, f"challenger_{name}") for name in ChallengerConfig.field_names()}
        return ChallengerConfig(**values)
