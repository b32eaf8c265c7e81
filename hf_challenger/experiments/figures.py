"""The comparison's figures: LRP attribution maps of a saved run and reliability diagrams per arm."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .recipe_spec import Recipe
from .results import RunResult

#: Text relevance is drawn for at most this many leading positions (the figure says so).
MAX_FIGURE_TOKENS = 64


def attribution_figure(run: RunResult, recipe: Recipe, test_dataset: Any, num_samples: int, path: Path) -> Path:
    """LRP relevance of the first ``num_samples`` test examples under the saved model of ``run``.

    The model is reloaded from ``run.output_dir`` with ``from_pretrained`` (a checkpoint recipe's
    text rows are padded by the tokenizer saved there, whose tokens label the figure). The attributed
    class is the true label (single-label) or the top-scoring class (multi-label); the attributed
    tensor is the arm's ``challenger_attribution_target`` (text: the embedding output, summed over
    the embedding axis into one value per token), with the arm's ``challenger_epsilon``,
    ``challenger_attention_rule`` and ``challenger_unknown_layers``. The title says which class is
    explained, where, and names the arm and seed; each panel names the true and predicted class.
    Drawn by :func:`hf_challenger.plots.plot_attribution_maps` (positive red, negative blue, with a
    colour bar).
    """
    import torch
    from transformers import default_data_collator

    from ..lrp import EpsilonLRP
    from ..plots import plot_attribution_maps
    from .build import model_class_of

    tokenizer, collate = None, default_data_collator
    trust = recipe.checkpoint is not None and recipe.checkpoint.trust_remote_code
    load_options: dict[str, Any] = {"trust_remote_code": trust}
    if recipe.checkpoint is not None:
        if recipe.checkpoint.attn_implementation is not None:
            load_options["attn_implementation"] = recipe.checkpoint.attn_implementation
        if "input_ids" in test_dataset.column_names:
            from transformers import AutoTokenizer, DataCollatorWithPadding

            tokenizer = AutoTokenizer.from_pretrained(run.output_dir, trust_remote_code=trust)
            collate = DataCollatorWithPadding(tokenizer)
    model = model_class_of(recipe).from_pretrained(run.output_dir, **load_options)
    model.eval()
    batch = collate([test_dataset[int(i)] for i in figure_indices(test_dataset, num_samples)])
    labels = batch.pop("labels")
    target_name = run.training.get("challenger_attribution_target", "input")
    at = None
    if target_name == "embeddings":
        at = model.get_input_embeddings()
    elif target_name != "input":
        at = model.get_submodule(target_name)
    with torch.no_grad():
        logits = model(**batch).logits
    predicted = logits.argmax(dim=-1)
    targets = labels.long() if labels.dim() == 1 else predicted
    lrp = EpsilonLRP(
        model,
        epsilon=float(run.training.get("challenger_epsilon", 1e-6)),
        attention_rule=run.training.get("challenger_attention_rule", "attnlrp"),
        unknown_layers=run.training.get("challenger_unknown_layers", "error"),
    )
    try:
        relevance = lrp.attribute(batch, targets, at=at).detach()
    finally:
        lrp.remove()
    names = model.config.id2label
    if labels.dim() == 1:
        titles = [f"true {names[int(y)]}, predicted {names[int(p)]}" for y, p in zip(labels, predicted)]
        explained = "the true class"
    else:
        titles = [f"explained: {names[int(p)]}" for p in predicted]
        explained = "the top-scoring class"
    title = attribution_title(run, explained, target_name)
    inputs = batch[model.main_input_name]
    tokens = None
    if at is not None and target_name == "embeddings":
        relevance = relevance.sum(dim=-1)  # [N, L]
        shown = min(
            MAX_FIGURE_TOKENS,
            int(batch["attention_mask"].sum(dim=1).max()) if "attention_mask" in batch else relevance.shape[1],
        )
        if shown < relevance.shape[1]:
            titles = [f"{caption} (first {shown} of {relevance.shape[1]} positions)" for caption in titles]
        relevance = relevance[:, :shown]
        tokens = _tokens(test_dataset, inputs[:, :shown], tokenizer)
        inputs = None
    elif at is not None:
        inputs = None  # a hidden layer's relevance has no input picture to show above it
    return plot_attribution_maps(relevance, path, inputs=inputs, titles=titles, tokens=tokens, title=title)


def attribution_title(run: RunResult, explained: str, target_name: str) -> str:
    """The attribution figure's title: what is explained, where, and by which arm and seed."""
    where = {"input": "input", "embeddings": "token embeddings (summed per token)"}.get(target_name, target_name)
    return f"Epsilon-LRP relevance of {explained} at the {where}: arm {run.arm}, seed {run.seed}"


def figure_indices(dataset: Any, num_samples: int) -> np.ndarray:
    """Rows shown in the attribution figure: for single-label data the first example of each
    class in turn (so a class-sorted test split still shows different classes), else
    ``num_samples`` evenly spaced rows."""
    count = min(num_samples, len(dataset))
    labels = np.asarray(dataset.with_format("numpy")["labels"][:])
    if labels.ndim != 1:
        return np.linspace(0, len(dataset) - 1, count).round().astype(np.int64)
    order = np.argsort(labels, kind="stable")
    rank = np.empty_like(order)
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank[order] = np.arange(len(labels)) - starts  # position of each row within its class
    return np.lexsort((labels, rank))[:count]  # all first-of-class rows (by class), then the second ...


def _tokens(dataset: Any, input_ids: Any, tokenizer: Any = None) -> list[list[str]] | None:
    """Token strings of ``input_ids [N, L]`` from ``tokenizer`` or the dataset's vocabulary (None without one)."""
    from ..data.text import get_vocabulary

    if tokenizer is not None:
        return [tokenizer.convert_ids_to_tokens([int(i) for i in row]) for row in input_ids]
    try:
        vocabulary = get_vocabulary(dataset)
    except (ValueError, KeyError):
        return None
    return [[vocabulary.tokens[int(i)] for i in row] for row in input_ids]


def reliability_figure(runs: Sequence[RunResult], n_bins: int, path: Path) -> Path:
    """Top-label reliability diagram per arm; ECE as in the table.

    The bars pool the test predictions of all the arm's seeds; the ECE under each arm's name
    is the table's: mean ± sample std (ddof=1) of the per-seed ECE, a fraction in [0, 1].
    The figure's caption says both.
    """
    from ..metrics import reliability_diagram
    from ..plots import plot_reliability_diagrams

    diagrams, labels = {}, {}
    for arm in dict.fromkeys(run.arm for run in runs):
        arm_runs = [run for run in runs if run.arm == arm]
        logits = np.concatenate([run.logits for run in arm_runs])
        targets = np.concatenate([run.labels for run in arm_runs])
        diagrams[arm] = reliability_diagram(logits, targets, n_bins=n_bins, from_logits=True)
        labels[arm] = ece_over_seeds([run.metrics["ece"] for run in arm_runs])
    seeds = sorted({run.seed for run in runs})
    if len(seeds) == 1:
        caption = (
            f"Bars: the test predictions of seed {seeds[0]} ({n_bins} bins). ECE: a fraction (0-1), as in the table."
        )
    else:
        caption = (
            f"Bars: the test predictions of all {len(seeds)} seeds pooled ({n_bins} bins). ECE: a fraction (0-1), "
            "mean ± std of the per-seed values, as in the table."
        )
    return plot_reliability_diagrams(diagrams, path, ece_labels=labels, caption=caption)


def ece_over_seeds(values: Sequence[float]) -> str:
    """``ECE 0.1234 ± 0.0123 (3 seeds)``: mean and sample std (ddof=1), as in the table; for one
    seed ``ECE 0.1234 (1 seed)``."""
    if len(values) == 1:
        return f"ECE {float(values[0]):.4f} (1 seed)"
    return f"ECE {float(np.mean(values)):.4f} ± {float(np.std(values, ddof=1)):.4f} ({len(values)} seeds)"
