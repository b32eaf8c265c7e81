"""hf_challenger.metrics against hand-computed values and scikit-learn."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from torch import nn
from transformers import EvalPrediction

from hf_challenger import metrics as M
from hf_challenger.metrics.auc import _SortedScores


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def single_label():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(400, 10))
    labels = rng.integers(0, 10, size=400)
    logits[np.arange(200), labels[:200]] += 3.0  # half the samples mostly right
    return logits, labels


# ----------------------------------------------------------------- accuracy, NLL, Brier


def test_accuracy_matches_sklearn_for_numpy_and_torch(single_label):
    logits, labels = single_label
    expected = accuracy_score(labels, logits.argmax(axis=1))
    assert M.accuracy(logits, labels) == pytest.approx(expected)
    assert M.accuracy(torch.tensor(logits), torch.tensor(labels)) == pytest.approx(expected)
    assert M.accuracy(_softmax(logits), labels) == pytest.approx(expected)


def test_nll_matches_sklearn_log_loss_and_torch_cross_entropy(single_label):
    logits, labels = single_label
    probs = _softmax(logits)
    assert M.nll(probs, labels) == pytest.approx(log_loss(labels, probs, labels=np.arange(10)), rel=1e-10)
    ce = nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item()
    assert M.nll(logits, labels, from_logits=True) == pytest.approx(ce, rel=1e-10)
    assert M.nll(torch.tensor(logits, dtype=torch.bfloat16), torch.tensor(labels), from_logits=True) == pytest.approx(
        ce, rel=2e-2
    )


def test_nll_from_logits_is_exact_for_confident_wrong_predictions():
    # p(true) = e^-1000 underflows as a probability; the log-softmax keeps it exact
    assert M.nll([[1000.0, 0.0]], [1], from_logits=True) == pytest.approx(1000.0)
    # a zero probability is clipped at float64 epsilon, as documented
    assert M.nll([[1.0, 0.0]], [1]) == pytest.approx(-math.log(np.finfo(np.float64).eps))


def test_brier_score_hand_computed():
    probs = [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]
    labels = [0, 1]
    # squared errors: 0.09 + 0.04 + 0.01 = 0.14 and 0.01 + 0.81 + 0.64 = 1.46
    assert M.brier_score(probs, labels, reduction="sum") == pytest.approx((0.14 + 1.46) / 2)
    assert M.brier_score(probs, labels) == pytest.approx((0.14 + 1.46) / 2 / 3)


def test_brier_score_from_logits_matches_direct_formula(single_label):
    logits, labels = single_label
    one_hot = np.eye(10)[labels]
    expected = np.mean(np.sum((_softmax(logits) - one_hot) ** 2, axis=1)) / 10
    assert M.brier_score(logits, labels, from_logits=True) == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------------ ECE, diagram


def test_ece_hand_built_example():
    probs = np.array(
        [
            [0.95, 0.03, 0.02],  # conf 0.95, correct   -> bin 14
            [0.95, 0.03, 0.02],  # conf 0.95, wrong     -> bin 14: acc 0.5, conf 0.95
            [0.55, 0.25, 0.20],  # conf 0.55, correct   -> bin 8: gap 0.45
            [0.35, 0.33, 0.32],  # conf 0.35, wrong     -> bin 5: gap 0.35
        ]
    )
    labels = np.array([0, 1, 0, 2])
    expected = 2 / 4 * 0.45 + 1 / 4 * 0.45 + 1 / 4 * 0.35
    assert M.ece(probs, labels) == pytest.approx(expected)
    # a single bin: |overall accuracy - mean confidence|
    assert M.ece(probs, labels, n_bins=1) == pytest.approx(abs(0.5 - (0.95 + 0.95 + 0.55 + 0.35) / 4))


def _naive_ece(probs, labels, n_bins):
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        members = (conf > lo) & (conf <= hi)
        if members.any():
            total += members.mean() * abs((pred[members] == labels[members]).mean() - conf[members].mean())
    return total


@pytest.mark.parametrize("n_bins", [1, 10, 15])
def test_ece_matches_reference_loop(single_label, n_bins):
    logits, labels = single_label
    probs = _softmax(logits)
    assert M.ece(logits, labels, n_bins=n_bins, from_logits=True) == pytest.approx(
        _naive_ece(probs, labels, n_bins), abs=1e-12
    )


def test_reliability_diagram_bins_are_right_closed():
    # confidence exactly 0.6 = 9/15 belongs to (8/15, 9/15], confidence 1 to the last bin
    probs = [[0.6, 0.4], [1.0, 0.0], [0.61, 0.39]]
    diagram = M.reliability_diagram(probs, [0, 0, 1])
    assert diagram.num_bins == 15
    assert diagram.count.sum() == 3
    assert diagram.count[8] == 1 and diagram.count[9] == 1 and diagram.count[14] == 1
    assert diagram.accuracy[8] == 1.0 and diagram.accuracy[9] == 0.0
    assert diagram.confidence[9] == pytest.approx(0.61)
    assert np.isnan(diagram.accuracy[0]) and np.isnan(diagram.confidence[0])
    np.testing.assert_allclose(diagram.bin_edges, np.linspace(0, 1, 16))
    assert diagram.ece == pytest.approx(M.ece(probs, [0, 0, 1]))


# ----------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: M.accuracy([[0.1, 0.9]], [2]), r"labels must lie in \[0, 1\].*labels\[0\] = 2"),
        (lambda: M.accuracy([[0.1, 0.9]], [-1]), r"labels\[0\] = -1"),
        (lambda: M.accuracy([[0.1, 0.9]], [0.5]), r"integer class indices.*labels\[0\] = 0.5"),
        (lambda: M.accuracy([0.1, 0.9], [0]), r"scores must have shape \[N, C\].*\(2,\)"),
        (lambda: M.accuracy([[0.1, 0.9]], [0, 1]), r"labels has 2 entries but the scores have 1 rows"),
        (lambda: M.nll([[2.0, -1.0]], [0]), r"probabilities in \[0, 1\].*from_logits=True"),
        (lambda: M.brier_score([[0.5, 0.4]], [0]), r"row 0 sums to 0.9.*from_logits=True"),
        (lambda: M.ece([[0.5, 0.5]], [0], n_bins=0), r"n_bins must be an integer >= 1, got 0"),
        (lambda: M.ece([[np.nan, 0.5]], [0]), r"scores must be finite.*nan"),
        (lambda: M.brier_score([[0.5, 0.5]], [0], reduction="max"), r"reduction must be 'mean' or 'sum'.*'max'"),
        (lambda: M.macro_auc([[0.1], [0.2]], [[0], [2]]), r"only 0 and 1.*labels\[1, 0\] = 2"),
        (lambda: M.macro_auc([[0.1, 0.3], [0.2, 0.1]], [[0, 1], [1, 1]]), r"class 1: 2 of 2 positive"),
        (lambda: M.macro_auc_ci([[0.1], [0.2]], [[0], [1]], confidence=1.5), r"confidence must be.*1.5"),
        (lambda: M.macro_auc_ci([[0.1], [0.2]], [[0], [1]], n_resamples=0), r"n_resamples must be.*0"),
    ],
)
def test_bad_inputs_are_refused_with_the_value(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ------------------------------------------------------------------------- macro AUC


@pytest.fixture
def multi_label():
    rng = np.random.default_rng(1)
    labels = (rng.random((300, 6)) < 0.25).astype(np.float32)
    labels[0] = 1.0
    labels[1] = 0.0
    scores = rng.normal(size=(300, 6)) + 1.5 * labels
    return scores, labels


def test_macro_auc_matches_sklearn(multi_label):
    scores, labels = multi_label
    expected = roc_auc_score(labels, scores, average="macro")
    assert M.macro_auc(scores, labels) == pytest.approx(expected, rel=1e-12)
    assert M.macro_auc(torch.tensor(scores), torch.tensor(labels)) == pytest.approx(expected, rel=1e-12)
    tied = np.round(scores)  # many ties: each counts one half
    assert M.macro_auc(tied, labels) == pytest.approx(roc_auc_score(labels, tied, average="macro"), rel=1e-12)


def test_weighted_auc_equals_sklearn_on_the_resampled_rows(multi_label):
    scores, labels = multi_label
    scores = np.round(scores, 1)
    rng = np.random.default_rng(5)
    rows = rng.integers(0, 300, size=300)
    weights = np.bincount(rows, minlength=300)[None].astype(np.float64)
    got = _SortedScores(scores, labels.astype(np.int64)).auc(weights)[0]
    expected = roc_auc_score(labels[rows], scores[rows], average=None)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_bootstrap_interval_contains_point_and_is_seeded(multi_label):
    scores, labels = multi_label
    result = M.macro_auc_ci(scores, labels, n_resamples=200, seed=3)
    assert result.auc == pytest.approx(M.macro_auc(scores, labels))
    assert result.lower < result.auc < result.upper
    assert result.bootstrap_aucs.shape == (200,)
    assert np.percentile(result.bootstrap_aucs, 5) == pytest.approx(result.lower)
    assert np.percentile(result.bootstrap_aucs, 95) == pytest.approx(result.upper)
    again = M.macro_auc_ci(scores, labels, n_resamples=200, seed=3)
    np.testing.assert_array_equal(again.bootstrap_aucs, result.bootstrap_aucs)
    other = M.macro_auc_ci(scores, labels, n_resamples=200, seed=4)
    assert not np.array_equal(other.bootstrap_aucs, result.bootstrap_aucs)
    wider = M.macro_auc_ci(scores, labels, n_resamples=200, seed=3, confidence=0.99)
    assert wider.lower <= result.lower and wider.upper >= result.upper


def test_bootstrap_redraws_resamples_without_positives_or_negatives():
    rng = np.random.default_rng(2)
    n = 20
    labels = (rng.random((n, 3)) < 0.5).astype(np.int64)
    labels[:, 0] = 0
    labels[7, 0] = 1  # class 0: a single positive
    labels[:, 1] = 1
    labels[11, 1] = 0  # class 1: a single negative
    scores = rng.normal(size=(n, 3)) + labels
    # naive resampling would often lose class 0's positive or class 1's negative
    naive = rng.integers(0, n, size=(2000, n))
    degenerate = ((naive != 7).all(axis=1) | (naive != 11).all(axis=1)).mean()
    assert degenerate > 0.4
    result = M.macro_auc_ci(scores, labels, n_resamples=300, seed=0)
    assert result.bootstrap_aucs.shape == (300,)
    assert np.isfinite(result.bootstrap_aucs).all()  # a degenerate resample would give 0/0
    assert ((result.bootstrap_aucs >= 0) & (result.bootstrap_aucs <= 1)).all()


def test_bootstrap_gives_up_when_almost_no_resample_is_usable():
    n = 30
    labels = np.zeros((n, 15), dtype=np.int64)
    labels[np.arange(15), np.arange(15)] = 1  # 15 classes with one positive each
    scores = np.random.default_rng(0).normal(size=(n, 15))
    with pytest.raises(ValueError, match=r"bootstrap resamples had a positive and a negative.*class \d+: 1 positive"):
        M.macro_auc_ci(scores, labels, n_resamples=10)


# ---------------------------------------------------------------- filter similarity


def test_filter_cosine_similarity_on_known_filters():
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # pairs: 0, 1/sqrt(2), 1/sqrt(2)
    assert M.filter_cosine_similarity(weight) == pytest.approx(math.sqrt(2) / 3)
    same = torch.ones(4, 2, 3, 3)
    assert M.filter_cosine_similarity(same) == pytest.approx(1.0)
    opposite = torch.stack([torch.arange(1.0, 7.0), -torch.arange(1.0, 7.0)]).reshape(2, 1, 2, 3)
    assert M.filter_cosine_similarity(opposite) == pytest.approx(-1.0)


def test_layer_filter_cosine_similarity_per_layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 5, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 4 * 4, 4), nn.Linear(4, 1))
    result = M.layer_filter_cosine_similarity(model)
    assert list(result) == ["0", "3", "4"]
    for name in ("0", "3"):
        w = model.get_submodule(name).weight.detach().double().flatten(1)
        sim = nn.functional.cosine_similarity(w[:, None], w[None], dim=-1)
        off_diagonal = sim[~torch.eye(len(w), dtype=torch.bool)]
        assert result[name] == pytest.approx(off_diagonal.mean().item(), rel=1e-10)
    assert math.isnan(result["4"])  # a single output unit has no pair


def test_filter_similarity_errors():
    with pytest.raises(ValueError, match=r"all-zero filter\(s\) \[1\]"):
        M.filter_cosine_similarity(torch.tensor([[1.0, 2.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="has no layer of type Linear"):
        M.layer_filter_cosine_similarity(nn.Sequential(nn.ReLU()))


# ------------------------------------------------------------------ compute_metrics


def test_make_compute_metrics_single_label(single_label):
    logits, labels = single_label
    compute = M.make_compute_metrics("single_label")
    out = compute(EvalPrediction(predictions=(logits, np.zeros(3)), label_ids=labels))
    assert set(out) == {"accuracy", "nll", "brier", "ece"}
    assert out["accuracy"] == pytest.approx(accuracy_score(labels, logits.argmax(axis=1)))
    assert out["nll"] == pytest.approx(log_loss(labels, _softmax(logits), labels=np.arange(10)))
    assert out["brier"] == pytest.approx(M.brier_score(logits, labels, from_logits=True))
    assert out["ece"] == pytest.approx(_naive_ece(_softmax(logits), labels, 15))
    assert all(isinstance(v, float) for v in out.values())


def test_make_compute_metrics_multi_label(multi_label):
    scores, labels = multi_label
    plain = M.make_compute_metrics("multi_label")(EvalPrediction(predictions=scores, label_ids=labels))
    assert plain == {"macro_auc": pytest.approx(roc_auc_score(labels, scores, average="macro"))}
    compute = M.make_compute_metrics("multi_label", n_resamples=50, seed=1)
    out = compute(EvalPrediction(predictions=scores, label_ids=labels))
    assert out["macro_auc_lower"] < out["macro_auc"] < out["macro_auc_upper"]


def test_make_compute_metrics_refuses_bad_arguments():
    with pytest.raises(ValueError, match="task must be one of.*'regression'"):
        M.make_compute_metrics("regression")
    with pytest.raises(ValueError, match="only to task='multi_label'"):
        M.make_compute_metrics("single_label", n_resamples=10)
    with pytest.raises(ValueError, match="n_bins must be"):
        M.make_compute_metrics(n_bins=-3)


# ------------------------------------------------------------------ evaluate modules


@pytest.mark.parametrize(
    "name, function, kwargs",
    [("ece", M.ece, {"n_bins": 10}), ("brier_score", M.brier_score, {}), ("nll", M.nll, {"from_logits": True})],
)
def test_local_evaluate_modules_equal_the_functions(single_label, name, function, kwargs):
    evaluate = pytest.importorskip("evaluate")
    logits, labels = single_label
    scores = logits if kwargs.get("from_logits") else _softmax(logits)
    module = evaluate.load(M.evaluate_module_path(name))
    result = module.compute(predictions=scores, references=labels, **kwargs)
    assert result[name] == pytest.approx(function(scores, labels, **kwargs), rel=1e-12)


def test_evaluate_module_path_refuses_unknown_names():
    with pytest.raises(ValueError, match="no evaluate module named 'accuracy'; available: ece, brier_score, nll"):
        M.evaluate_module_path("accuracy")


def test_evaluate_module_folders_are_packages_so_setuptools_ships_them():
    from pathlib import Path

    from setuptools import find_packages

    root = Path(M.__file__).resolve().parents[2]
    found = set(find_packages(str(root), include=["hf_challenger", "hf_challenger.*"]))
    for name in M.EVALUATE_MODULES:
        assert f"hf_challenger.metrics.evaluate_modules.{name}" in found
        assert Path(M.evaluate_module_path(name), f"{name}.py").is_file()
