"""Expected calibration error as an ``evaluate`` metric module (ships with hf-challenger).

Load it from its local folder, no Hub needed:
``evaluate.load(hf_challenger.metrics.evaluate_module_path("ece"))``.
"""

import evaluate

from hf_challenger.metrics import ece
from hf_challenger.metrics.evaluate_modules import classification_metric_info

_DESCRIPTION = """\
Expected calibration error (ECE) of top-label confidence: samples are put into n_bins
equal-width confidence bins (lo, hi] on [0, 1], and ECE is the sample-weighted mean over
bins of |accuracy - mean confidence|. In [0, 1]; lower is better.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (list of list of float): [N, C] class probabilities, or logits with from_logits=True.
    references (list of int): [N] true class indices in [0, C).
    n_bins (int): number of equal-width bins, default 15.
    from_logits (bool): apply a softmax to the predictions first, default False.
Returns:
    ece (float): the expected calibration error.
Example:
    >>> metric = evaluate.load(hf_challenger.metrics.evaluate_module_path("ece"))
    >>> metric.compute(predictions=[[0.9, 0.1], [0.2, 0.8]], references=[0, 0])["ece"]
    0.45
"""

_CITATION = """\
@inproceedings{guo2017calibration,
  title={On Calibration of Modern Neural Networks},
  author={Guo, Chuan and Pleiss, Geoff and Sun, Yu and Weinberger, Kilian Q.},
  booktitle={ICML},
  year={2017}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ExpectedCalibrationError(evaluate.Metric):
    """ECE over equal-width confidence bins, computed by ``hf_challenger.metrics.ece``."""

    def _info(self):
        return classification_metric_info(_DESCRIPTION, _CITATION, _KWARGS_DESCRIPTION)

    def _compute(self, predictions, references, n_bins=15, from_logits=False):
        return {"ece": ece(predictions, references, n_bins=n_bins, from_logits=from_logits)}
