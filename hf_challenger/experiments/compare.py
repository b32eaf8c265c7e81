"""Multi-arm, multi-seed comparison, the running part: train every arm of a recipe over several
seeds, evaluate on the test split, and write the paper-style table, figures and one saved model
per arm and seed.

Layout of ``output_dir`` after :func:`run_comparison`::

    results.json              recipe, data summary, per-run metrics and training fields used (with
                              ``overridden``: fields whose value is not the recipe's), per-arm mean/std
    results.md                the table in Markdown, with the data summary and the overridden fields
    attribution_maps.png      test inputs and their LRP relevance per arm (positive red, negative blue)
    reliability_diagrams.png  top-label reliability diagram per arm: bars from the test predictions of all
                              seeds pooled, ECE as in the table (mean +- std over seeds)
    <arm>/seed-<n>/           save_pretrained model (config.json, model.safetensors), training_args.bin,
                              recipe.yaml (the recipe, the arm's resolved training fields, the seed),
                              metrics.json (test and validation metrics, train runtime),
                              log_history.json (the Trainer's logs), README.md (model card)

The table reports mean +- standard deviation over seeds (sample standard deviation,
``ddof=1``; 0 for a single seed). Single-label: accuracy (%), NLL (nats), Brier score,
ECE (a fraction in [0, 1], as in the paper, results.json and the figures; 15 equal-width
bins by default). Multi-label: macro ROC AUC, and with
``evaluation.n_resamples > 0`` the bootstrap interval's bounds averaged over seeds.

Everything runs on every process under ``torchrun``/``accelerate launch`` (training is
data-parallel); only the main process writes files, draws figures and prints.

The table, data description and model card come from :mod:`hf_challenger.experiments.summary`, the
figures from :mod:`hf_challenger.experiments.figures`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from .build import build_model, build_trainer, build_training_arguments, load_recipe_data
from .figures import attribution_figure, reliability_figure
from .locks import output_lock
from .preflight import check_runs
from .recipe_spec import Recipe
from .results import Comparison, RunResult
from .seeds import parse_seeds
from .summary import (
    describe_data,
    format_table,
    jsonable,
    overridden_fields,
    overrides_lines,
    summarize,
    write_run_files,
)

logger = logging.getLogger(__name__)


def select_arms(recipe: Recipe, arms: str | Sequence[str] | None) -> list[str]:
    """The arms to run: all of the recipe's (``None``), or the named ones in the given order (each once)."""
    if arms is None:
        return list(recipe.arms)
    names = [a.strip() for a in arms.split(",")] if isinstance(arms, str) else list(arms)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"arms must be distinct (each arm's runs share one folder); {repeated} given more than once")
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
        write_run_files(recipe, result, trainer.state.log_history, run_dir)
    if args.push_to_hub:
        trainer.push_to_hub(commit_message=f"{recipe.name}: arm {result.arm}, seed {result.seed}")
        if trainer.is_world_process_zero():  # Trainer's push writes its own card; put ours back
            from huggingface_hub import HfApi

            write_run_files(recipe, result, trainer.state.log_history, run_dir)
            HfApi().upload_folder(
                repo_id=trainer.hub_model_id,
                folder_path=str(run_dir),
                allow_patterns=["README.md", "recipe.yaml", "metrics.json", "log_history.json"],
                token=args.hub_token,
                commit_message="hf-challenger model card, recipe and metrics",
            )
    return result


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

    Raises:
        RecipeError: before the first run, when any arm's arguments, or its first Challenger step on
            the model and data, would fail (:func:`hf_challenger.experiments.preflight.check_runs`).
        OutputFolderBusy: when another live run holds ``output_dir`` (:mod:`hf_challenger.experiments.locks`).
    """
    from accelerate import PartialState

    start = time.perf_counter()
    arms = select_arms(recipe, arms)
    seeds = parse_seeds(list(seeds))
    output_dir = Path(output_dir)
    is_main = PartialState().is_main_process
    with output_lock(output_dir, enabled=is_main):  # one run per output folder
        datasets = load_recipe_data(recipe)
        data_text = describe_data(recipe, datasets)
        if is_main:
            print(data_text, flush=True)
        jobs = [(arm, seed) for arm in arms for seed in seeds]
        planned = {
            (arm, seed): run_training_values(recipe, arm, seed, output_dir / arm / f"seed-{seed}", overrides)
            for arm, seed in jobs
        }
        check_runs(recipe, [(arm, planned[arm, seed]) for arm, seed in jobs], datasets)  # before any run trains
        runs: list[RunResult] = []
        bar = tqdm(jobs, desc=f"{recipe.name}: arms x seeds", unit="run", disable=not is_main)
        for arm, seed in bar:
            bar.set_postfix_str(f"{arm} seed {seed}")
            runs.append(train_and_evaluate(recipe, arm, planned[arm, seed], datasets, quiet))
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
                "training": run.training,
                "overridden": overridden_fields(recipe, run.arm, run.training),
            }
            for run in runs
        ],
    }
    Path(files["json"]).write_text(json.dumps(jsonable(document), indent=2), encoding="utf-8")
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
        *overrides_lines(recipe, runs),
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
