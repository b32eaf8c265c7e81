"""Multi-class Brier score as an ``evaluate`` metric module (ships with hf-challenger).

Load it from its local folder, no Hub needed:
``evaluate.load(hf_challenger.metrics.evaluate_module_path("brier_score"))``.
"""

import evaluate

from hf_challenger.metrics import brier_score
from hf_challenger.metrics.evaluate_modules import classification_metric_info

_DESCRIPTION = """\
Multi-class Brier score: squared error between the predicted probability vector and the
one-hot label. With reduction="mean" (default) it is averaged over classes and samples,
in [0, 2 / C]; with reduction="sum" it is summed over classes and averaged over samples,
in [0, 2]. Lower is better.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (list of list of float): [N, C] class probabilities, or logits with from_logits=True.
    references (list of int): [N] true class indices in [0, C).
    reduction (str): "mean" (default) or "sum" over the class axis.
    from_logits (bool): apply a softmax to the predictions first, default False.
Returns:
    brier_score (float): the Brier score.
Example:
    >>> metric = evaluate.load(hf_challenger.metrics.evaluate_module_path("brier_score"))
    >>> metric.compute(predictions=[[1.0, 0.0], [0.5, 0.5]], references=[0, 0])["brier_score"]
    0.125
"""

_CITATION = """\
@article{brier1950verification,
  title={Verification of forecasts expressed in terms of probability},
  author={Brier, Glenn W.},
  journal={Monthly Weather Review},
  volume={78},
  number={1},
  pages={1--3},
  year={1950}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MultiClassBrierScore(evaluate.Metric):
    """Brier score computed by ``hf_challenger.metrics.brier_score``."""

    def _info(self):
        return classification_metric_info(_DESCRIPTION, _CITATION, _KWARGS_DESCRIPTION)

    def _compute(self, predictions, references, reduction="mean", from_logits=False):
        return {"brier_score": brier_score(predictions, references, reduction=reduction, from_logits=from_logits)}
