"""Value checks shared by the model configurations: each refuses a bad value with a
message naming the field, the value and what is allowed."""

from __future__ import annotations

SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
PROBLEM_TYPES = (None, SINGLE_LABEL, MULTI_LABEL)


def check_positive_int(name: str, value: object) -> None:
    """``value`` must be an ``int`` (not bool) of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_probability(name: str, value: object) -> None:
    """``value`` must be a dropout probability in ``[0, 1)``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")


def check_bool(name: str, value: object) -> None:
    """``value`` must be ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def check_problem_type(problem_type: object) -> None:
    """Refuse a ``problem_type`` these classifiers do not implement (e.g. ``"regression"``)."""
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(
            f"problem_type={problem_type!r} is not supported by the hf-challenger models; "
            f"allowed: None, {SINGLE_LABEL!r}, {MULTI_LABEL!r}"
        )


def check_num_labels(num_labels: int, problem_type: str | None) -> None:
    """A single-label classifier needs at least two classes; a multi-label one at least one."""
    smallest = 1 if problem_type == MULTI_LABEL else 2
    if num_labels < smallest:
        raise ValueError(
            f"num_labels={num_labels} is too small for problem_type={problem_type!r}; "
            f"it must be at least {smallest}"
        )
