"""Rerun the final tinyMNIST comparison: base model, Challenger (LRP selection) and
random selection, over 5 seeds, reported on the held-out test split.

    python benchmarks/reproduce_tiny.py                       # 3 arms x 5 seeds, 2 worker processes
    python benchmarks/reproduce_tiny.py --seeds 0,1 --workers 1 --threads 2

The arms, model, data and knobs are those of ``recipes/tiny_mnist_ablations.yaml`` (whose
training section equals the quickstart recipe ``recipes/tiny_mnist.yaml``). Each (arm, seed) run
is the library's own ``hf_challenger.experiments.compare.train_and_evaluate`` (the code behind
``hf-challenger compare``); runs are spread over ``--workers`` processes with
``torch.set_num_threads(--threads)`` each. Prints and writes (``--results`` prefix, .json/.md):

- the test table (mean ± std over seeds: accuracy, NLL, Brier, ECE) and the same on validation;
- the filter cosine similarity (the paper's Table 1): mean pairwise cosine similarity between the
  filters of each Conv/Linear layer, averaged over layers, per arm (mean ± std over seeds), and per
  layer for base vs Challenger;
- the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np
from tiny_workers import STATE, filter_similarity, worker_pool

def _run(job: tuple[str, int, str]) -> tuple[Any, dict[str, float]]:
    from hf_challenger.experiments.compare import run_training_values, train_and_evaluate

    arm, seed, output_dir = job
    recipe = STATE["recipe"]
    values = run_training_values(
        recipe, arm, seed, Path(output_dir) / arm / f"seed-{seed}"
    )
    values.update(disable_tqdm=True)
    result = train_and_evaluate(recipe, arm, values, STATE["datasets"], quiet=True)
    return result, filter_similarity(recipe, result.output_dir)


def _mean_std(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def filter_tables(
    filters: dict[str, list[dict[str, float]]],
) -> tuple[str, dict[str, Any]]:
    """Markdown tables of filter cosine similarity: per arm (mean over all layers, and over the hidden
    layers: the output layer's rows are class prototypes, negatively correlated by training, and
    dominate the plain mean), and per layer. Layers are in forward order, the output layer last."""
    summary: dict[str, Any] = {"mean_over_layers": {}, "mean_over_hidden_layers": {}, "per_layer": {}}
    lines = [
        "| Arm | mean over all layers | mean over hidden layers (output layer excluded) | Seeds |",
        "|---|:---:|:---:|:---:|",
    ]
    for arm, runs in filters.items():
        mean, std = _mean_std([float(np.nanmean(list(run.values()))) for run in runs])
        hidden_mean, hidden_std = _mean_std([float(np.nanmean(list(run.values())[:-1])) for run in runs])
        summary["mean_over_layers"][arm] = {"mean": mean, "std": std, "n": len(runs)}
        summary["mean_over_hidden_layers"][arm] = {"mean": hidden_mean, "std": hidden_std, "n": len(runs)}
        lines.append(f"| {arm} | {mean:.4f} ± {std:.4f} | {hidden_mean:.4f} ± {hidden_std:.4f} | {len(runs)} |")
    arms = list(filters)
    layers = list(next(iter(filters.values()))[0])
    lines += [
        "",
        "| Layer | " + " | ".join(arms) + " |",
        "|---|" + ":---:|" * len(arms),
    ]
    for layer in layers:
        cells = []
        for arm in arms:
            mean, std = _mean_std([run[layer] for run in filters[arm]])
            summary["per_layer"].setdefault(layer, {})[arm] = {"mean": mean, "std": std}
            cells.append(f"{mean:.4f} ± {std:.4f}")
        lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    return "\n".join(lines), summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipe", default="recipes/tiny_mnist_ablations.yaml")
    parser.add_argument("--arms", default="base,challenger,random")
    parser.add_argument(
        "--seeds", default="5", help="count N (seeds 0..N-1) or a comma list"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="parallel training processes"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads per process"
    )
    parser.add_argument(
        "--output-dir",
        default="runs/reproduce_tiny",
        help="saved models, one folder per arm/seed",
    )
    parser.add_argument(
        "--results",
        default="benchmarks/results/reproduce_tiny",
        help="prefix of the .json/.md files",
    )
    args = parser.parse_args(argv)
    if args.workers < 1 or args.threads < 1:
        parser.error(
            f"--workers and --threads must be >= 1, got {args.workers} and {args.threads}"
        )

    from hf_challenger.experiments.build import load_recipe_data
    from hf_challenger.experiments.compare import parse_seeds, select_arms
    from hf_challenger.experiments.recipe import load_recipe
    from hf_challenger.experiments.summary import describe_data, format_table, summarize

    start = time.perf_counter()
    recipe = load_recipe(args.recipe)
    arms = select_arms(recipe, args.arms)
    seeds = parse_seeds(args.seeds)
    data_text = describe_data(recipe, load_recipe_data(recipe))
    print(data_text, flush=True)
    jobs = [(arm, seed, args.output_dir) for seed in seeds for arm in arms]
    results: dict[tuple[str, int], Any] = {}
    filters: dict[tuple[str, int], dict[str, float]] = {}
    with worker_pool(args.workers, args.recipe, args.threads) as pool:
        for index, (result, layer_cos) in enumerate(pool.imap_unordered(_run, jobs), 1):
            results[(result.arm, result.seed)] = result
            filters[(result.arm, result.seed)] = layer_cos
            print(
                f"[{index}/{len(jobs)} {time.perf_counter() - start:5.0f} s] {result.arm} seed {result.seed}: "
                f"test acc {100 * result.metrics['accuracy']:.2f} %, train {result.train_runtime:.0f} s",
                flush=True,
            )
    runs = [results[(arm, seed)] for arm in arms for seed in seeds]
    summary = summarize(runs)
    validation_summary = {
        arm: {
            key[len("validation_") :]: v
            for key, v in stats.items()
            if key.startswith("validation_")
        }
        for arm, stats in summary.items()
    }
    cos_text, cos_summary = filter_tables(
        {arm: [filters[(arm, seed)] for seed in seeds] for arm in arms}
    )
    wall = time.perf_counter() - start
    train_time = {arm: summary[arm]["train_runtime"]["mean"] for arm in arms}
    text = "\n".join(
        [
            f"# tinyMNIST: {', '.join(arms)} over seeds {seeds}",
            "",
            data_text,
            "",
            f"Recipe: {args.recipe}. Test split, mean ± std over {len(seeds)} seeds:",
            "",
            format_table(summary, "single_label", markdown=True),
            "",
            "Validation split (the split the defaults were chosen on), same runs:",
            "",
            format_table(validation_summary, "single_label", markdown=True),
            "",
            "Filter cosine similarity (paper's Table 1; lower = more diverse filters):",
            "",
            cos_text,
            "",
            "Mean training time per run (s): "
            + ", ".join(f"{arm} {t:.0f}" for arm, t in train_time.items()),
            f"Wall time: {wall:.0f} s ({args.workers} worker(s) x {args.threads} thread(s), {os.cpu_count()} CPUs).",
            "",
        ]
    )
    print("\n" + text, flush=True)
    prefix = Path(args.results)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".md").write_text(text, encoding="utf-8")
    document = {
        "recipe": args.recipe,
        "training": recipe.training,
        "arms": {arm: recipe.arms[arm] for arm in arms},
        "seeds": seeds,
        "summary": summary,
        "filter_cosine_similarity": cos_summary,
        "runs": [
            {
                "arm": r.arm,
                "seed": r.seed,
                "test": r.metrics,
                "validation": r.validation,
                "train_runtime": r.train_runtime,
            }
            for r in runs
        ],
        "wall_time_s": wall,
        "workers": args.workers,
        "threads": args.threads,
    }
    prefix.with_suffix(".json").write_text(
        json.dumps(document, indent=2, default=str), encoding="utf-8"
    )
    print(
        f"Written {prefix.with_suffix('.md')} and {prefix.with_suffix('.json')}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
