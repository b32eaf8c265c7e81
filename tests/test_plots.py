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
    path = plots.plot_attribution_maps(relevance, tmp_path / "maps.png", colorbar=False)
    assert path == tmp_path / "maps.png"
    _assert_png(path)
    red, blue = _colour_masks(imread(path))
    assert red.sum() > 100 and blue.sum() > 100
    assert np.nonzero(red)[1].mean() < np.nonzero(blue)[1].mean()  # red on the left


def test_colour_limits_are_symmetric_around_zero(tmp_path):
    relevance = np.full((1, 1, 10, 10), 1.0)
    relevance[..., 5:] = -0.01  # weak negative: must stay near white, not saturate to blue
    path = plots.plot_attribution_maps(relevance, tmp_path / "sym.png", colorbar=False)
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
    path = plots.plot_attribution_maps(arms, tmp_path / "arms.png", inputs=inputs, titles=["x", "y"], colorbar=False)
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
        torch.tensor([[2.0, -2.0, 0.0, 0.5]]),
        tmp_path / "text.png",
        tokens=[["the", "cat", "sat", "down"]],
        colorbar=False,
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


def _colour_bar(figure):
    bars = [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1
    return bars[0]


def test_colour_bar_is_signed_and_centred_at_zero():
    relevance = np.zeros((2, 1, 6, 6))
    relevance[0, 0, :3] = 4.0
    relevance[1, 0, 3:] = -0.5
    figure = plots.attribution_maps_figure(relevance, title="explained: the true class; seed 3")
    bar = _colour_bar(figure)
    low, high = bar.get_ylim()
    assert low == -high == -1.0  # each map scaled by its own largest |relevance|
    assert "largest" in bar.get_ylabel() and "|relevance| of its map" in bar.get_ylabel()
    ticks = [text.get_text() for text in bar.get_yticklabels()]
    assert ticks[0].startswith("-1") and "against" in ticks[0] and ticks[1] == "0" and "for the class" in ticks[2]
    images = [image for ax in figure.axes if ax.get_label() != "<colorbar>" for image in ax.get_images()]
    assert [image.get_array().max() for image in images] == [1.0, 0.0]  # 4.0 / 4.0; -0.5 / 0.5 -> min -1
    assert [image.get_array().min() for image in images] == [0.0, -1.0]
    assert all(image.get_clim() == (-1.0, 1.0) for image in images)
    assert figure.get_suptitle() == "explained: the true class; seed 3"


def test_shared_scale_colour_bar_gives_relevance_units():
    relevance = {"base": np.full((1, 1, 4, 4), 0.25), "challenger": np.full((1, 1, 4, 4), -2.0)}
    figure = plots.attribution_maps_figure(relevance, shared_scale=True)
    bar = _colour_bar(figure)
    assert bar.get_ylim() == (-2.0, 2.0)
    assert "one scale for all maps" in bar.get_ylabel()
    assert [text.get_text().split("\n")[0] for text in bar.get_yticklabels()] == ["-2", "0", "2"]
    assert "<colorbar>" not in [ax.get_label() for ax in plots.attribution_maps_figure(relevance, colorbar=False).axes]


def test_sequences_are_stacked_one_full_width_strip_per_sample():
    titles = ["true comp.sys.ibm.pc.hardware, predicted rec.sport.hockey", "true sci.space, predicted sci.med"]
    tokens = [["w"] * 30, ["v"] * 30]
    figure = plots.attribution_maps_figure(
        {"base": np.ones((2, 30)), "challenger": -np.ones((2, 30))}, titles=titles, tokens=tokens
    )
    maps = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert len(maps) == 4  # 2 samples x 2 arms, in one column
    assert len({round(ax.get_position().x0, 3) for ax in maps}) == 1
    tops = [ax.get_position().y0 for ax in maps]
    assert tops == sorted(tops, reverse=True)  # sample 0 (base, challenger) above sample 1
    assert [ax.get_ylabel() for ax in maps] == ["base", "challenger", "base", "challenger"]
    assert maps[0].get_title() == titles[0] and maps[2].get_title() == titles[1]
    assert [t.get_text() for t in maps[1].get_xticklabels()] == ["w"] * 30


def test_long_panel_titles_are_wrapped():
    title = "true a.very.long.class.name.number.one, predicted another.very.long.class.name"
    figure = plots.attribution_maps_figure(np.ones((1, 1, 8, 8)), titles=[title])
    shown = figure.axes[0].get_title()
    assert "\n" in shown and shown.replace("\n", " ") == title


def test_reliability_diagrams_carry_ece_labels_and_caption():
    rng = np.random.default_rng(4)
    diagram = M.reliability_diagram(rng.normal(size=(50, 3)), rng.integers(0, 3, 50), from_logits=True)
    figure = plots.reliability_diagrams_figure(
        {"base": diagram, "challenger": diagram},
        ece_labels={"challenger": "ECE 0.1000 ± 0.0100 (3 seeds)"},
        caption="Bars: 3 seeds pooled.",
    )
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == [f"base\nECE = {diagram.ece:.4f}", "challenger\nECE 0.1000 ± 0.0100 (3 seeds)"]
    assert figure.get_supxlabel() == "Bars: 3 seeds pooled."
    with pytest.raises(ValueError, match=r"ece_labels name arms without a diagram: \['random'\]; arms: base"):
        plots.reliability_diagrams_figure({"base": diagram}, ece_labels={"random": "x"})


def test_reliability_diagrams_refuse_bad_input(tmp_path):
    with pytest.raises(ValueError, match="non-empty mapping"):
        plots.plot_reliability_diagrams({}, tmp_path / "r.png")
    with pytest.raises(TypeError, match=r"diagrams\['base'\] must be a ReliabilityDiagram"):
        plots.plot_reliability_diagrams({"base": 0.1}, tmp_path / "r.png")
    diagram = M.reliability_diagram([[0.9, 0.1]], [0])
    with pytest.raises(ValueError, match=r"cannot tell the image format of .*r\.xyz"):
        plots.plot_reliability_diagrams({"base": diagram}, tmp_path / "r.xyz")
