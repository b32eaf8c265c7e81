"""Negative log-likelihood as an ``evaluate`` metric module (ships with hf-challenger).

Load it from its local folder, no Hub needed:
``evaluate.load(hf_challenger.metrics.evaluate_module_path("nll"))``.
"""

import evaluate

from hf_challenger.metrics import nll
from hf_challenger.metrics.evaluate_modules import classification_metric_info

_DESCRIPTION = """\
Mean negative log-likelihood of the true class, in nats (the cross-entropy of a
classifier's predicted distribution). From logits it uses a stable log-softmax; from
probabilities, a true-class probability of 0 is clipped to float64 epsilon. Lower is better.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (list of list of float): [N, C] class probabilities, or logits with from_logits=True.
    references (list of int): [N] true class indices in [0, C).
    from_logits (bool): treat the predictions as logits, default False.
Returns:
    nll (float): the mean negative log-likelihood.
Example:
    >>> metric = evaluate.load(hf_challenger.metrics.evaluate_module_path("nll"))
    >>> round(metric.compute(predictions=[[0.5, 0.5]], references=[1])["nll"], 4)
    0.6931
"""

_CITATION = """\
@book{bishop2006pattern,
  title={Pattern Recognition and Machine Learning},
  author={Bishop, Christopher M.},
  publisher={Springer},
  year={2006}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class NegativeLogLikelihood(evaluate.Metric):
    """Mean NLL of the true class, computed by ``hf_challenger.metrics.nll``."""

    def _info(self):
        return classification_metric_info(_DESCRIPTION, _CITATION, _KWARGS_DESCRIPTION)

    def _compute(self, predictions, references, from_logits=False):
        return {"nll": nll(predictions, references, from_logits=from_logits)}
