"""Which task shapes ChallengerTrainer trains, decided when the trainer is built.

Challenger attributes one class per example (drawn from the example's top-K logits, or its label)
and perturbs that example's features: it needs a classifier with logits ``[batch, classes]`` whose
rows are the examples. Three shapes do not fit, and are refused at construction (with Challenger
enabled; ``challenger_enabled=False`` trains them as ``Trainer`` does):

- token classification (``*ForTokenClassification``; logits ``[batch, tokens, classes]``): one row
  holds one label per token, so there is no single class to attribute and perturb the row for;
  a target per token with one shared perturbation per row is not the paper's method.
- multiple choice (``*ForMultipleChoice``; inputs ``[batch, choices, tokens]``, logits
  ``[batch, choices]``): the attributed rows are the choices, not the examples, and the "classes"
  are the example's own choices, so challenging a row would change the answers it is asked about.
- regression (``problem_type="regression"``, or a ``*ForSequenceClassification`` with one label):
  there are no classes to draw a target from.

Multi-label classification is trained: the target is drawn from the predicted top-K as the paper
does (its labels are not used), or from the positive labels with ``target_source="labels"``.
Models that are not ``transformers`` task classes are judged by their logits at the first step.
"""

from __future__ import annotations

from typing import Any

_REFUSED_SUFFIXES = {
    "ForTokenClassification": (
        "token classification: each row holds one label per token, so there is no single class to attribute "
        "and challenge the row for (a target per token with one shared perturbation per row is not the paper's "
        "method)"
    ),
    "ForMultipleChoice": (
        "multiple choice: the attributed rows are an example's choices and the 'classes' are those choices, so "
        "challenging a row would change the very answers it is asked to choose between"
    ),
}


def refuse_unsupported_task(model: Any) -> None:
    """Raise ``ValueError`` naming the model class and why, for the task shapes the module lists.

    Raises:
        ValueError: for token classification, multiple choice and regression models.
    """
    name = type(model).__name__
    for suffix, why in _REFUSED_SUFFIXES.items():
        if name.endswith(suffix):
            raise ValueError(_message(name, why))
    config = getattr(model, "config", None)
    problem = getattr(config, "problem_type", None)
    one_output = getattr(config, "num_labels", None) == 1 and name.endswith("ForSequenceClassification")
    if problem == "regression" or (problem is None and one_output):
        raise ValueError(_message(name, "regression: there are no classes to draw the attributed target from"))


def _message(name: str, why: str) -> str:
    return (
        f"ChallengerTrainer does not train {name} with Challenger: {why}. Challenger needs a classifier whose "
        "logits are [batch, classes] with one example per row (single- or multi-label); set "
        "challenger_enabled=False to train this model as Trainer does"
    )
