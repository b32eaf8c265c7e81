"""hf_challenger.plots writes image files with the paper's colour convention."""

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from hf_challenger import metrics as M
from hf_challenger import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path):
    assert path.is_file() and path.stat().st_size > 500
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def _colour_masks(image):
    rgb = image[..., :3]
    red = (rgb[..., 0] > 0.8) & (rgb[..., 1] < 0.3) & (rgb[..., 2] < 0.3)
    blue = (rgb[..., 2] > 0.8) & (rgb[..., 0] < 0.3) & (rgb[..., 1] < 0.3)
    return red, blue


def test_image_attribution_map_positive_red_negative_blue(tmp_path):
    relevance = torch.zeros(1, 3, 16, 16)
    relevance[..., :8] = 0.5  # left half positive (summed over 3 channels: 1.5)
    relevance[..., 8:] = -0.5  # right half negative
    path = plots.plot_attribution_maps(relevance, tmp_path / "maps.png")
    assert path == tmp_path / "maps.png"
    _assert_png(path)
    red, blue = _colour_masks(imread(path))
    assert red.sum() > 100 and blue.sum() > 100
    assert np.nonzero(red)[1].mean() < np.nonzero(blue)[1].mean()  # red on the left


def test_colour_limits_are_symmetric_around_zero(tmp_path):
    relevance = np.full((1, 1, 10, 10), 1.0)
    relevance[..., 5:] = -0.01  # weak negative: must stay near white, not saturate to blue
    path = plots.plot_attribution_maps(relevance, tmp_path / "sym.png")
    image = imread(path)[..., :3]
    red, blue = _colour_masks(image)
    assert red.sum() > 100 and blue.sum() == 0
    rows, cols = np.nonzero(red)
    right_of_red = image[rows.min() : rows.max() + 1, cols.max() + 3 : cols.max() + 3 + np.ptp(cols) // 2]
    assert right_of_red.min() > 0.9  # almost white


def test_one_named_row_per_arm(tmp_path):
    rng = np.random.default_rng(3)
    inputs = rng.normal(size=(2, 1, 10, 10))
    arms = {"base": np.ones((2, 1, 10, 10)), "Challenger": -np.ones((2, 1, 10, 10))}
    path = plots.plot_attribution_maps(arms, tmp_path / "arms.png", inputs=inputs, titles=["x", "y"])
    _assert_png(path)
    red, blue = _colour_masks(imread(path))
    assert red.sum() > 100 and blue.sum() > 100
    assert np.nonzero(red)[0].mean() < np.nonzero(blue)[0].mean()  # base row above Challenger row
    with pytest.raises(ValueError, match=r"relevance\['b'\] has shape \(2, 5\), the first one \(2, 4\)"):
        plots.plot_attribution_maps({"a": np.zeros((2, 4)), "b": np.zeros((2, 5))}, tmp_path / "bad.png")


def test_image_maps_with_inputs_and_titles(tmp_path):
    rng = np.random.default_rng(0)
    for channels in (1, 3):
        path = plots.plot_attribution_maps(
            rng.normal(size=(3, channels, 12, 12)),
            tmp_path / f"images{channels}.png",
            inputs=rng.normal(size=(3, channels, 12, 12)),
            titles=["a", "b", "c"],
            shared_scale=True,
        )
        _assert_png(path)


def test_signal_and_sequence_maps(tmp_path):
    rng = np.random.default_rng(1)
    ecg = plots.plot_attribution_maps(
        rng.normal(size=(2, 12, 100)), tmp_path / "ecg.png", inputs=rng.normal(size=(2, 12, 100))
    )
    _assert_png(ecg)
    strip = plots.plot_attribution_maps(
        torch.tensor([[2.0, -2.0, 0.0, 0.5]]), tmp_path / "text.png", tokens=[["the", "cat", "sat", "down"]]
    )
    _assert_png(strip)
    red, blue = _colour_masks(imread(strip))
    assert np.nonzero(red)[1].mean() < np.nonzero(blue)[1].mean()  # token 0 red, token 1 blue


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"relevance": np.zeros(5)}, r"relevance must be \[N, C, H, W\].*\(5,\)"),
        ({"relevance": np.zeros((2, 4)), "tokens": [["a"] * 4]}, r"tokens must be 2 lists of 4 strings"),
        ({"relevance": np.zeros((1, 1, 4, 4)), "inputs": np.zeros((1, 1, 4, 5))}, r"inputs must have the relevance's"),
        ({"relevance": np.zeros((1, 2, 4, 4)), "inputs": np.zeros((1, 2, 4, 4))}, r"1 or 3 channels"),
        ({"relevance": np.zeros((2, 4)), "titles": ["x"]}, r"one caption per sample \(2\), got 1"),
        ({"relevance": np.zeros((2, 4)), "cmap": "RdBu"}, r"colormap 'RdBu' does not map positive relevance to red"),
        ({"relevance": np.zeros((2, 4)), "cmap": "no_such_map"}, r"unknown matplotlib colormap 'no_such_map'"),
    ],
)
def test_attribution_map_refuses_bad_input(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plots.plot_attribution_maps(path=tmp_path / "x.png", **kwargs)


def test_reliability_diagrams_side_by_side(tmp_path):
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=3.0, size=(300, 10))
    labels = rng.integers(0, 10, size=300)
    diagrams = {
        "base": M.reliability_diagram(logits, labels, from_logits=True),
        "challenger": M.reliability_diagram(logits / 3.0, labels, from_logits=True, n_bins=10),
    }
    path = plots.plot_reliability_diagrams(diagrams, tmp_path / "sub" / "reliability.png")
    _assert_png(path)
    single = plots.plot_reliability_diagrams({"base": diagrams["base"]}, tmp_path / "one.png")
    assert imread(path).shape[1] > 1.5 * imread(single).shape[1]  # two panels are wider than one


def test_reliability_diagrams_refuse_bad_input(tmp_path):
    with pytest.raises(ValueError, match="non-empty mapping"):
        plots.plot_reliability_diagrams({}, tmp_path / "r.png")
    with pytest.raises(TypeError, match=r"diagrams\['base'\] must be a ReliabilityDiagram"):
        plots.plot_reliability_diagrams({"base": 0.1}, tmp_path / "r.png")
    diagram = M.reliability_diagram([[0.9, 0.1]], [0])
    with pytest.raises(ValueError, match=r"cannot tell the image format of .*r\.xyz"):
        plots.plot_reliability_diagrams({"base": diagram}, tmp_path / "r.xyz")
