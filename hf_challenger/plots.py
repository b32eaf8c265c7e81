"""Figures for results: attribution maps (the paper's Figure 2 style) and reliability diagrams.

Drawn with matplotlib's Agg canvas on standalone ``Figure`` objects, so nothing here
touches pyplot's global state or needs a display. Every ``plot_*`` function saves one
file (the format follows the path's suffix, e.g. ``.png``) and returns its path; the
``*_figure`` functions return the unsaved ``Figure``.

Colour convention of relevance maps: a diverging colormap centred on 0 with symmetric
limits, positive relevance red, negative blue, zero white, and a colour bar that says
so and gives the scale.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .metrics import ReliabilityDiagram
from .metrics._arrays import check_finite, to_numpy

DEFAULT_CMAP = "bwr"


def _output_path(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` has an image suffix matplotlib can write, before any drawing."""
    out = Path(path)
    supported = FigureCanvasAgg.get_supported_filetypes()
    if out.suffix.lower().lstrip(".") not in supported:
        raise ValueError(
            f"cannot tell the image format of {str(out)!r}: its suffix must be one of "
            f"{', '.join('.' + s for s in sorted(supported))}"
        )
    return out


def _save(figure: Figure, out: Path, dpi: int) -> Path:
    """Save ``figure`` through the Agg canvas to ``out`` (parent folders created)."""
    FigureCanvasAgg(figure)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=dpi, bbox_inches="tight")
    return out


def _diverging_cmap(name: str) -> matplotlib.colors.Colormap:
    """Return colormap ``name``, refusing one that does not show positive red, negative blue."""
    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(
            f"unknown matplotlib colormap {name!r}; use a diverging one such as 'bwr' or 'seismic'"
        ) from None
    low, high = cmap(0.0), cmap(1.0)
    if not (high[0] > high[2] and low[2] > low[0]):
        raise ValueError(
            f"colormap {name!r} does not map positive relevance to red and negative to blue; "
            "use 'bwr', 'seismic' or 'coolwarm'"
        )
    return cmap


def _display_image(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """``[C, H, W]`` input (C = 1 or 3, any scale) -> min-max scaled array for imshow."""
    low, high = image.min(), image.max()
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    if image.shape[0] == 1:
        return scaled[0], "gray"
    return np.transpose(scaled, (1, 2, 0)), None


def _relevance_array(value: Any, name: str) -> np.ndarray:
    rel = to_numpy(value, name).astype(np.float64, copy=False)
    if rel.ndim not in (2, 3, 4) or rel.shape[0] < 1:
        raise ValueError(
            f"{name} must be [N, C, H, W] (images), [N, C, L] (multi-channel signals) or [N, L] "
            f"(sequences) with N >= 1, got shape {tuple(rel.shape)}"
        )
    check_finite(rel, name)
    return rel


def _bare(ax: Any) -> None:
    """Hide ticks and frame but keep the y label (used for row names)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _wrap(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` characters (long words kept whole)."""
    return textwrap.fill(text, width=width, break_long_words=False, break_on_hyphens=False) if text else text


def _draw_input(ax: Any, x: np.ndarray, ndim: int) -> None:
    """One input above its maps: an image, stacked signal traces, or one trace."""
    if ndim == 4:
        shown, image_cmap = _display_image(x)
        ax.imshow(shown, cmap=image_cmap, interpolation="nearest")
        _bare(ax)
        return
    traces = x if ndim == 3 else x[None]
    spread = np.ptp(traces, axis=1, keepdims=True)
    normalised = (traces - traces.mean(axis=1, keepdims=True)) / np.where(spread > 0, spread, 1.0)
    ax.plot((normalised - np.arange(traces.shape[0])[:, None]).T, color="black", linewidth=0.6)
    ax.set_xlim(-0.5, traces.shape[1] - 0.5)
    ax.set_yticks([])
    ax.tick_params(labelsize=8)


def _checked_maps_input(
    relevance: Any | Mapping[str, Any],
    inputs: Any,
    titles: Sequence[str] | None,
    tokens: Sequence[Sequence[str]] | None,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """``({row name: relevance}, inputs or None)`` as float64 arrays, after every shape check."""
    if isinstance(relevance, Mapping):
        if not relevance:
            raise ValueError("relevance mapping is empty; give at least one {row name: relevance}")
        arms = {str(k): _relevance_array(v, f"relevance[{k!r}]") for k, v in relevance.items()}
    else:
        arms = {"": _relevance_array(relevance, "relevance")}
    shape = next(iter(arms.values())).shape
    for name, rel in arms.items():
        if rel.shape != shape:
            raise ValueError(f"relevance[{name!r}] has shape {tuple(rel.shape)}, the first one {tuple(shape)}")
    ndim, num = len(shape), shape[0]
    x = None
    if inputs is not None:
        x = to_numpy(inputs, "inputs").astype(np.float64, copy=False)
        if x.shape != shape:
            raise ValueError(f"inputs must have the relevance's shape {tuple(shape)}, got {tuple(x.shape)}")
        if ndim == 4 and x.shape[1] not in (1, 3):
            raise ValueError(f"image inputs need 1 or 3 channels to be shown, got shape {tuple(x.shape)}")
    if titles is not None and len(titles) != num:
        raise ValueError(f"titles must hold one caption per sample ({num}), got {len(titles)}")
    if tokens is not None:
        if ndim != 2:
            raise ValueError(f"tokens apply to [N, L] relevance only, got relevance of shape {tuple(shape)}")
        lengths = [len(t) for t in tokens]
        if len(tokens) != num or any(n != shape[1] for n in lengths):
            raise ValueError(
                f"tokens must be {num} lists of {shape[1]} strings, got {len(tokens)} lists of lengths {lengths}"
            )
    return arms, x


def _scaled_maps(
    arms: Mapping[str, np.ndarray], shared_scale: bool
) -> tuple[np.ndarray, float, str, tuple[str, str]]:
    """Maps ``[rows, N, ...]`` (images summed over channels), their colour limit, the colour
    bar's label and its end labels: each map over its own largest |relevance| (limit 1), or
    with ``shared_scale`` as is, the limit the largest |relevance| of any map."""
    ndim = len(next(iter(arms.values())).shape)
    # [rows, N, H, W], [rows, N, C, L] or [rows, N, L]
    maps = np.stack([rel.sum(axis=1) if ndim == 4 else rel for rel in arms.values()])
    flat = np.abs(maps.reshape(maps.shape[0], maps.shape[1], -1)).max(axis=2)  # [rows, N]
    if shared_scale:
        limit = float(flat.max()) if flat.max() > 0 else 1.0
        return maps, limit, "relevance\n(one scale for all maps)", (f"{-limit:.3g}", f"{limit:.3g}")
    maps = maps / np.where(flat > 0, flat, 1.0).reshape(*flat.shape, *([1] * (maps.ndim - 2)))
    return maps, 1.0, "relevance / largest\n|relevance| of its map", ("-1", "+1")


def attribution_maps_figure(
    relevance: Any | Mapping[str, Any],
    *,
    inputs: Any = None,
    titles: Sequence[str] | None = None,
    tokens: Sequence[Sequence[str]] | None = None,
    title: str | None = None,
    shared_scale: bool = False,
    colorbar: bool = True,
    cmap: str = DEFAULT_CMAP,
) -> Figure:
    """The figure :func:`plot_attribution_maps` saves (arguments as there), not yet saved."""
    colormap = _diverging_cmap(cmap)
    arms, x = _checked_maps_input(relevance, inputs, titles, tokens)
    shape = next(iter(arms.values())).shape
    ndim, num = len(shape), shape[0]
    maps, limit, label, ends = _scaled_maps(arms, shared_scale)
    tick_labels = [f"{ends[0]}\nagainst", "0", f"{ends[1]}\nfor the class"]

    sequence = ndim == 2  # one wide strip per sample: samples are stacked, not side by side
    per_sample = (0 if x is None else 1) + len(arms)
    offset = 0 if x is None else 1
    if sequence:
        heights = ([0.7] if x is not None else []) + [0.45 + (0.55 if tokens is not None else 0.0)] * len(arms)
        heights = heights * num
        width = float(np.clip(0.16 * shape[1] + 2.5, 6.0, 16.0))
        grid = (len(heights), 1)
        title_width = int(width * 10)
    else:
        panel = 1.7 if ndim == 4 else 3.4
        heights = ([panel if ndim == 4 else 1.3] if x is not None else []) + [panel if ndim == 4 else 2.1] * len(arms)
        width = panel * num + (1.2 if colorbar else 0.3)
        grid = (len(heights), num)
        title_width = int(panel * 11)
    height = sum(heights) + (0.35 if titles is not None else 0.0) * (num if sequence else 1) + (0.4 if title else 0.1)
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(*grid, squeeze=False, gridspec_kw={"height_ratios": heights})

    def at(sample: int, row: int) -> Any:
        return axes[sample * per_sample + row, 0] if sequence else axes[row, sample]

    map_axes = []
    for i in range(num):
        if x is not None:
            _draw_input(at(i, 0), x[i], ndim)
        if titles is not None:
            at(i, 0).set_title(_wrap(titles[i], title_width), fontsize=10)
        for row, name in enumerate(arms):
            ax = at(i, offset + row)
            map_axes.append(ax)
            shown_map = maps[row, i] if maps[row, i].ndim == 2 else maps[row, i][None]
            ax.imshow(
                shown_map,
                cmap=colormap,
                vmin=-limit,
                vmax=limit,
                interpolation="nearest",
                aspect="equal" if ndim == 4 else "auto",
            )
            if ndim == 4:
                _bare(ax)
            else:
                ax.set_yticks([])
                ax.tick_params(labelsize=8)
                if sequence:
                    ax.set_xticks([])
                    if tokens is not None:
                        ax.set_xticks(np.arange(shape[1]), labels=list(tokens[i]), rotation=90, fontsize=8)
            if name and (sequence or i == 0):
                ax.set_ylabel(name, fontsize=11, rotation=0 if sequence else 90, ha="right" if sequence else "center")
    if colorbar:
        bar = figure.colorbar(
            ScalarMappable(norm=Normalize(-limit, limit), cmap=colormap),
            ax=map_axes,
            shrink=0.9 if sequence else 1.0,
            aspect=25 if sequence else 12,
            ticks=[-limit, 0.0, limit],
            pad=0.02,
        )
        bar.set_ticklabels(tick_labels)
        bar.set_label(label, fontsize=10)
        bar.ax.tick_params(labelsize=9)
    if title:
        figure.suptitle(_wrap(title, int(width * 9)), fontsize=12)
    return figure


def plot_attribution_maps(
    relevance: Any | Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    inputs: Any = None,
    titles: Sequence[str] | None = None,
    tokens: Sequence[Sequence[str]] | None = None,
    title: str | None = None,
    shared_scale: bool = False,
    colorbar: bool = True,
    cmap: str = DEFAULT_CMAP,
    dpi: int = 120,
) -> Path:
    """Draw N inputs and their relevance maps, with a colour bar; save the figure.

    ``relevance`` is one array, or a mapping ``{row name: array}`` of arrays of equal
    shape (e.g. ``{"base": r_base, "Challenger": r_ch}`` for the same inputs, as in the
    paper's Figure 2), drawn as one named row each. The layout follows the shape:

    - ``[N, C, H, W]`` images: relevance summed over channels into an ``[H, W]`` map;
      ``inputs [N, C, H, W]`` (C = 1 grey or 3 RGB, any normalisation) shown above it;
      samples side by side.
    - ``[N, C, L]`` multi-channel signals (e.g. 12-lead ECG): a ``[C, L]`` heat map, one
      row per channel; ``inputs [N, C, L]`` drawn as stacked traces above it.
    - ``[N, L]`` sequences (text relevance summed over the embedding axis, or a 1-D
      signal): one full-width heat strip per sample, samples stacked; ``inputs [N, L]``
      drawn as a trace above it, and ``tokens`` (N lists of L strings) written under it.

    Colours: red positive, blue negative, white 0. Each map is divided by its own largest
    |relevance| (colour scale -1 .. 1), or with ``shared_scale`` all maps share the limits
    ``[-m, m]``, ``m`` the largest |relevance| of any map; the colour bar says which.

    Args:
        relevance: relevance as above (numpy arrays or torch tensors), or a mapping of
            row names to such arrays.
        path: output file; its suffix picks the format (``.png``).
        inputs: optional inputs with the relevance's shape.
        titles: optional N captions (e.g. ``"true 3, predicted 3"``), wrapped to fit.
        tokens: optional N token lists for ``[N, L]`` relevance.
        title: optional figure title (e.g. which class is explained, which model and seed).
        shared_scale: one colour scale for all maps instead of one per map.
        colorbar: draw the colour bar (signed relevance, centred at 0).
        cmap: diverging colormap with red for positive (``bwr``, ``seismic``, ``coolwarm``).
        dpi: resolution of the saved image.

    Returns:
        The path written.
    """
    out = _output_path(path)
    figure = attribution_maps_figure(
        relevance,
        inputs=inputs,
        titles=titles,
        tokens=tokens,
        title=title,
        shared_scale=shared_scale,
        colorbar=colorbar,
        cmap=cmap,
    )
    return _save(figure, out, dpi)


def reliability_diagrams_figure(
    diagrams: Mapping[str, ReliabilityDiagram],
    *,
    ece_labels: Mapping[str, str] | None = None,
    caption: str | None = None,
) -> Figure:
    """The figure :func:`plot_reliability_diagrams` saves (arguments as there), not yet saved."""
    if not isinstance(diagrams, Mapping) or not diagrams:
        raise ValueError("diagrams must be a non-empty mapping {arm name: ReliabilityDiagram}")
    for name, diagram in diagrams.items():
        if not isinstance(diagram, ReliabilityDiagram):
            raise TypeError(f"diagrams[{name!r}] must be a ReliabilityDiagram, got {type(diagram).__name__}")
    unknown = sorted(set(ece_labels or {}) - set(diagrams))
    if unknown:
        raise ValueError(f"ece_labels name arms without a diagram: {unknown}; arms: {', '.join(diagrams)}")
    figure = Figure(figsize=(3.2 * len(diagrams) + 0.4, 3.9 + (0.3 if caption else 0.0)), layout="constrained")
    axes = figure.subplots(1, len(diagrams), squeeze=False, sharey=True)[0]
    for ax, (name, diagram) in zip(axes, diagrams.items()):
        edges = diagram.bin_edges
        centres = (edges[:-1] + edges[1:]) / 2.0
        widths = np.diff(edges)
        filled = diagram.count > 0
        ax.bar(
            centres[filled], diagram.accuracy[filled], width=widths[filled],
            color="#4c72b0", edgecolor="black", linewidth=0.5, label="accuracy",
        )
        gap = diagram.confidence[filled] - diagram.accuracy[filled]
        ax.bar(
            centres[filled], gap, bottom=diagram.accuracy[filled], width=widths[filled],
            color="#dd4444", alpha=0.35, edgecolor="#aa0000", hatch="//", linewidth=0.5, label="gap",
        )
        ax.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color="grey", linewidth=1.0, label="perfect calibration")
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.0)
        ax.set_aspect("equal")
        ax.set_xlabel("confidence")
        ece_text = (ece_labels or {}).get(name, f"ECE = {diagram.ece:.4f}")
        ax.set_title(f"{name}\n{ece_text}", fontsize=10)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="upper left", fontsize=8)
    if caption:
        figure.supxlabel(_wrap(caption, int(figure.get_figwidth() * 12)), fontsize=9)
    return figure


def plot_reliability_diagrams(
    diagrams: Mapping[str, ReliabilityDiagram],
    path: str | os.PathLike[str],
    *,
    ece_labels: Mapping[str, str] | None = None,
    caption: str | None = None,
    dpi: int = 120,
) -> Path:
    """Draw one reliability diagram per arm, side by side, and save the figure.

    Each panel shows accuracy per confidence bin (bars), the gap to the bin's mean
    confidence (shaded), the diagonal of perfect calibration, and the arm's ECE (a
    fraction in [0, 1]) in the title. Empty bins are left blank.

    Args:
        diagrams: ``{arm name: ReliabilityDiagram}`` from
            :func:`hf_challenger.metrics.reliability_diagram`, drawn in mapping order.
        path: output file; its suffix picks the format (``.png``).
        ece_labels: optional ``{arm name: text}`` shown under the arm's name instead of the
            diagram's own ``ECE = ...`` (e.g. the mean ± std over seeds of a table).
        caption: optional line under the panels (e.g. how the seeds were combined).
        dpi: resolution of the saved image.

    Returns:
        The path written.
    """
    out = _output_path(path)
    return _save(reliability_diagrams_figure(diagrams, ece_labels=ece_labels, caption=caption), out, dpi)
