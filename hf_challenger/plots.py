"""Figures for results: attribution maps (the paper's Figure 2 style) and reliability diagrams.

Drawn with matplotlib's Agg canvas on standalone ``Figure`` objects, so nothing here
touches pyplot's global state or needs a display. Every function saves one file (the
format follows the path's suffix, e.g. ``.png``) and returns its path.

Colour convention of relevance maps: a diverging colormap centred on 0 with symmetric
limits ``[-m, m]`` (``m`` the largest absolute relevance), positive relevance red,
negative blue, zero white.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
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


def plot_attribution_maps(
    relevance: Any | Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    inputs: Any = None,
    titles: Sequence[str] | None = None,
    tokens: Sequence[Sequence[str]] | None = None,
    shared_scale: bool = False,
    cmap: str = DEFAULT_CMAP,
    dpi: int = 120,
) -> Path:
    """Draw N inputs in a row and their relevance maps in the row(s) below; save the figure.

    ``relevance`` is one array, or a mapping ``{row name: array}`` of arrays of equal
    shape (e.g. ``{"base": r_base, "Challenger": r_ch}`` for the same inputs, as in the
    paper's Figure 2), drawn as one named row each. The layout follows the shape:

    - ``[N, C, H, W]`` images: relevance summed over channels into an ``[H, W]`` map;
      ``inputs [N, C, H, W]`` (C = 1 grey or 3 RGB, any normalisation) shown above it.
    - ``[N, C, L]`` multi-channel signals (e.g. 12-lead ECG): a ``[C, L]`` heat map, one
      row per channel; ``inputs [N, C, L]`` drawn as stacked traces above it.
    - ``[N, L]`` sequences (text relevance summed over the embedding axis, or a 1-D
      signal): a heat strip; ``inputs [N, L]`` drawn as a trace above it, and ``tokens``
      (N lists of L strings) written under each strip.

    Each map has symmetric colour limits ``[-m, m]``, ``m`` its largest |relevance|
    (or, with ``shared_scale``, the largest over all maps).

    Args:
        relevance: relevance as above (numpy arrays or torch tensors), or a mapping of
            row names to such arrays.
        path: output file; its suffix picks the format (``.png``).
        inputs: optional inputs with the relevance's shape.
        titles: optional N captions (e.g. ``"label 3 / predicted 3"``).
        tokens: optional N token lists for ``[N, L]`` relevance.
        shared_scale: one colour limit for all maps instead of one per map.
        cmap: diverging colormap with red for positive (``bwr``, ``seismic``, ``coolwarm``).
        dpi: resolution of the saved image.

    Returns:
        The path written.
    """
    out = _output_path(path)
    colormap = _diverging_cmap(cmap)
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

    # [rows, N, H, W], [rows, N, C, L] or [rows, N, L]
    maps = np.stack([rel.sum(axis=1) if ndim == 4 else rel for rel in arms.values()])
    flat = np.abs(maps.reshape(maps.shape[0], num, -1)).max(axis=2)  # [rows, N]
    limits = np.full_like(flat, flat.max()) if shared_scale else flat
    limits = np.where(limits > 0, limits, 1.0)

    map_height = 2.2 if ndim == 4 else (1.8 if ndim == 3 else 0.6)
    heights = ([2.2 if ndim == 4 else 1.4] if x is not None else []) + [map_height] * len(arms)
    offset = 0 if x is None else 1
    figure = Figure(figsize=((2.2 if ndim == 4 else 4.0) * num, sum(heights) + 0.3 * len(heights)))
    axes = figure.subplots(len(heights), num, squeeze=False, gridspec_kw={"height_ratios": heights})
    for i in range(num):
        if x is not None:
            top = axes[0, i]
            if ndim == 4:
                shown, image_cmap = _display_image(x[i])
                top.imshow(shown, cmap=image_cmap, interpolation="nearest")
                _bare(top)
            else:
                traces = x[i] if ndim == 3 else x[i][None]
                spread = np.ptp(traces, axis=1, keepdims=True)
                normalised = (traces - traces.mean(axis=1, keepdims=True)) / np.where(spread > 0, spread, 1.0)
                top.plot((normalised - np.arange(traces.shape[0])[:, None]).T, color="black", linewidth=0.6)
                top.set_xlim(-0.5, traces.shape[1] - 0.5)
                top.set_yticks([])
        if titles is not None:
            axes[0, i].set_title(titles[i], fontsize=9)
        for row, name in enumerate(arms):
            ax = axes[offset + row, i]
            shown_map = maps[row, i] if maps[row, i].ndim == 2 else maps[row, i][None]
            ax.imshow(
                shown_map,
                cmap=colormap,
                vmin=-limits[row, i],
                vmax=limits[row, i],
                interpolation="nearest",
                aspect="equal" if ndim == 4 else "auto",
            )
            if ndim == 4:
                _bare(ax)
            else:
                ax.set_yticks([])
                if tokens is not None:
                    ax.set_xticks(np.arange(shape[1]), labels=list(tokens[i]), rotation=90, fontsize=6)
            if i == 0 and name:
                ax.set_ylabel(name)
    return _save(figure, out, dpi)


def plot_reliability_diagrams(
    diagrams: Mapping[str, ReliabilityDiagram],
    path: str | os.PathLike[str],
    *,
    dpi: int = 120,
) -> Path:
    """Draw one reliability diagram per arm, side by side, and save the figure.

    Each panel shows accuracy per confidence bin (bars), the gap to the bin's mean
    confidence (shaded), the diagonal of perfect calibration, and the arm's ECE in the
    title. Empty bins are left blank.

    Args:
        diagrams: ``{arm name: ReliabilityDiagram}`` from
            :func:`hf_challenger.metrics.reliability_diagram`, drawn in mapping order.
        path: output file; its suffix picks the format (``.png``).
        dpi: resolution of the saved image.

    Returns:
        The path written.
    """
    out = _output_path(path)
    if not isinstance(diagrams, Mapping) or not diagrams:
        raise ValueError("diagrams must be a non-empty mapping {arm name: ReliabilityDiagram}")
    for name, diagram in diagrams.items():
        if not isinstance(diagram, ReliabilityDiagram):
            raise TypeError(f"diagrams[{name!r}] must be a ReliabilityDiagram, got {type(diagram).__name__}")
    figure = Figure(figsize=(3.6 * len(diagrams), 3.8))
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
        ax.set_title(f"{name}\nECE = {diagram.ece:.4f}", fontsize=10)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="upper left", fontsize=7)
    return _save(figure, out, dpi)
