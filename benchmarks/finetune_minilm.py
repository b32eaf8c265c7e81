"""Finetuning a pretrained transformer on little data: all-MiniLM-L6-v2 on 20 Newsgroups (4 messages
per group) and Reuters R52 (2 documents per topic), every arm of the two recipes over 5 seeds,
reported on test splits never used for selection.

    python benchmarks/fetch_minilm.py                      # the checkpoint, once
    python benchmarks/finetune_minilm.py --data_dir newsgroups=BYDATE --data_dir reuters=REUTERS
    python benchmarks/finetune_minilm.py --samples FOLDER  # partial copies: a development test split
    python benchmarks/finetune_minilm.py --summary         # tables only

Rows: ``newsgroups`` (recipes/finetune_minilm_tiny_newsgroups.yaml) and ``reuters``
(recipes/finetune_minilm_tiny_reuters.yaml). Arms (``--arms``, default all six of the recipes):
``base``, ``challenger`` (AttnLRP), ``challenger_cp`` (CP-LRP), ``random`` (random selection, same
N), ``neftune`` (Trainer's embedding noise) and ``challenger_finetune`` (Challenger from a later
epoch, after base training). The recipes hold the settings chosen on the validation split
(``benchmarks/sweep_tiny.py`` with ``benchmarks/sweep_minilm.json``; the guide
``docs/results.md`` gives the sweep).

Runs, data folders and resuming work as in ``reproduce_table2.py`` (same record layout; a record
made with other training or data fields than the recipe now has is an error, not reused).
``--sweep ROW=JSONL`` first takes over the runs of a ``sweep_tiny.py`` file made with the row's
recipe whose training fields equal an arm's exactly, so a setting chosen in the sweep is not
trained twice. ``--full_data_epochs E`` also trains base once on the whole training split (the
reference for "few-shot": how far below full data the tiny subsets are). ``--step_cost JSON``
(``step_cost.py --cases minilm --json``) adds each arm's step time relative to the base step. The tables (test metrics, per-seed differences to base, validation
metrics) go to ``--results`` (.md and .json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np
from reproduce_table2 import (
    REPO, Row, _data_dirs, _parse_row_values, add_run_options, chosen_rows, run_row, summarize_records,
)
from sweep_tiny import read_jsonl
from tiny_workers import recorded_data

ROWS = {
    "newsgroups": Row("20 Newsgroups, 4 per group", "recipes/finetune_minilm_tiny_newsgroups.yaml",
                      "20newsgroups", False, {}),
    "reuters": Row("Reuters R52, 2 per topic", "recipes/finetune_minilm_tiny_reuters.yaml",
                   "reuters21578", False, {}),
}
ARMS = ("base", "challenger", "challenger_cp", "random", "neftune", "challenger_finetune")
# step_cost.py arm measuring each recipe arm's step (challenger_finetune: base steps, then lrp steps)
STEP_ARM = {"base": "plain", "challenger": "lrp", "challenger_cp": "cp", "random": "random", "neftune": "neftune"}
METRICS = ("accuracy", "nll", "brier", "ece")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def take_over_sweep(name: str, sweep: Path, runs: Path, arms: list[str]) -> int:
    """Append to ``runs`` the records of ``sweep`` (``sweep_tiny.py`` output for row ``name``'s
    recipe) whose training fields equal one of ``arms``; return how many were taken."""
    from hf_challenger.experiments.recipe import load_recipe

    if not sweep.is_file():
        raise FileNotFoundError(f"--sweep {name}={sweep}: no such file")
    recipe = load_recipe(str(REPO / ROWS[name].recipe))
    data = recorded_data(recipe)
    trainings = {arm: _jsonable(recipe.arm_training(arm)) for arm in arms}
    done = {(r["arm"], r["seed"]) for r in read_jsonl(runs) if r["row"] == name}
    taken = 0
    with runs.open("a", encoding="utf-8") as handle:
        for record in read_jsonl(sweep):
            if "training" not in record or "data" not in record:
                raise ValueError(f"{sweep}: setting {record['setting']!r} seed {record['seed']} does not record "
                                 "its training and data fields (made by an older sweep_tiny.py); it cannot be matched")
            training = record["training"]
            for arm, wanted in trainings.items():
                if training != wanted or record["data"] != data or (arm, record["seed"]) in done:
                    continue
                handle.write(json.dumps({
                    "row": name, "arm": arm, "seed": record["seed"], "training": training, "data": data,
                    "validation": record["validation"], "test": record["test"],
                    "train_runtime": record["train_runtime"], "wall_s": record["wall_s"],
                    "filter_cosine": record["filter_cosine"], "sweep_setting": record["setting"],
                }) + "\n")
                done.add((arm, record["seed"]))
                taken += 1
    return taken


def full_data_reference(name: str, data_dir: str | None, epochs: float, runs: Path) -> None:
    """Train the ``base`` arm of row ``name`` once (seed 0) on its whole training split for ``epochs``
    epochs, the reference that shows how far below full data the few-shot runs are; append the record
    (arm ``base_full_data``) to ``runs`` unless it is there."""
    import dataclasses
    import shutil
    import tempfile
    import time

    import torch

    from hf_challenger.experiments.build import load_recipe_data
    from hf_challenger.experiments.compare import run_training_values, train_and_evaluate
    from hf_challenger.experiments.recipe import load_recipe

    if any(r["row"] == name and r["arm"] == "base_full_data" for r in read_jsonl(runs)):
        return
    recipe = load_recipe(str(REPO / ROWS[name].recipe)).with_paths(data_dir, None)
    recipe = dataclasses.replace(recipe, train_per_class=None)
    datasets = load_recipe_data(recipe)
    torch.set_num_threads(os.cpu_count() or 1)
    run_dir = Path(tempfile.mkdtemp(prefix=f"minilm-full-{name}-"))
    try:
        values = run_training_values(recipe, "base", 0, run_dir, {"num_train_epochs": epochs})
        values.update(disable_tqdm=False, logging_strategy="no")
        start = time.perf_counter()
        result = train_and_evaluate(recipe, "base", values, datasets, quiet=True)
        wall = time.perf_counter() - start
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    with runs.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({
            "row": name, "arm": "base_full_data", "seed": 0, "training": _jsonable(values | {"output_dir": None}),
            "data": recorded_data(recipe), "train_size": len(datasets["train"]),
            "validation": result.validation, "test": result.metrics, "train_runtime": result.train_runtime,
            "wall_s": wall,
        }) + "\n")


def paired_differences(records: list[dict[str, Any]], arm: str) -> dict[str, dict[str, float]]:
    """``metric -> {mean, std, better, n}`` of ``arm`` minus ``base`` on the test split, over the seeds
    both have (``better``: seeds where the arm beats base: higher accuracy, lower NLL/Brier/ECE)."""
    base = {r["seed"]: r["test"] for r in records if r["arm"] == "base"}
    own = {r["seed"]: r["test"] for r in records if r["arm"] == arm}
    seeds = sorted(set(base) & set(own))
    out = {}
    for key in METRICS:
        diff = np.array([own[s][key] - base[s][key] for s in seeds], dtype=float)
        sign = 1.0 if key == "accuracy" else -1.0
        out[key] = {"mean": float(diff.mean()) if seeds else float("nan"),
                    "std": float(diff.std(ddof=1)) if len(seeds) > 1 else 0.0,
                    "better": int((sign * diff > 0).sum()), "n": len(seeds)}
    return out


def step_ratios(path: str | None, finetune_share: float) -> dict[str, float]:
    """Each arm's step time over the base step from ``step_cost.py --json`` (MiniLM case);
    ``challenger_finetune`` weighs the base and Challenger steps by ``finetune_share`` (the share of
    its steps that are challenged)."""
    if not path:
        return {}
    times = json.loads(Path(path).read_text(encoding="utf-8"))["time_s"]
    case = next((name for name in times if name.startswith("minilm")), None)
    if case is None:
        raise ValueError(f"{path}: no MiniLM case; run step_cost.py --cases minilm --json {path}")
    plain = times[case]["plain"]
    ratios = {arm: times[case][step] / plain for arm, step in STEP_ARM.items() if step in times[case]}
    if "challenger" in ratios:
        ratios["challenger_finetune"] = 1 + finetune_share * (ratios["challenger"] - 1)
    return ratios


def _cell(stats: dict[str, float], scale: float, digits: int) -> str:
    return f"{scale * stats['mean']:.{digits}f} ± {scale * stats['std']:.{digits}f}"


def row_table(records: list[dict[str, Any]], arms: list[str], ratios: dict[str, float], split: str) -> str:
    """Markdown: one line per arm, ``split`` metrics mean ± std over seeds; on the test split also
    the per-seed accuracy difference to base and the step-time ratio."""
    summary = summarize_records(records, arms)
    prefix = "" if split == "test" else "validation_"
    head = "| Arm | Seeds | Accuracy (%) ↑ | NLL ↓ | Brier ↓ | ECE (0-1) ↓ |"
    rule = "|---|:---:|:---:|:---:|:---:|:---:|"
    if split == "test":
        head += " Δ accuracy vs base (points), seeds better | Step time / base |"
        rule += "---|:---:|"
    lines = [head, rule]
    for arm, stats in summary.items():
        line = (f"| {arm} | {stats['accuracy']['n']} | {_cell(stats[prefix + 'accuracy'], 100, 2)} "
                f"| {_cell(stats[prefix + 'nll'], 1, 3)} | {_cell(stats[prefix + 'brier'], 1, 4)} "
                f"| {_cell(stats[prefix + 'ece'], 1, 3)} |")
        if split == "test":
            diff = paired_differences(records, arm)["accuracy"]
            delta = "" if arm == "base" else (f"{100 * diff['mean']:+.2f} ± {100 * diff['std']:.2f}, "
                                              f"{diff['better']}/{diff['n']}")
            ratio = f"{ratios[arm]:.2f}x" if arm in ratios else ""
            line += f" {delta} | {ratio} |"
        lines.append(line)
    return "\n".join(lines)


def report(args: argparse.Namespace, rows: list[str], arms: list[str]) -> str:
    """Write ``--results``.md/.json from ``--runs``; return the markdown."""
    from hf_challenger.experiments.recipe import load_recipe

    records = read_jsonl(Path(args.runs))
    sections, document = [], {"rows": {}}
    for name in rows:
        row_records = [r for r in records if r["row"] == name and r["arm"] in arms]
        if not row_records:
            continue
        recipe = load_recipe(str(REPO / ROWS[name].recipe))
        training = recipe.arm_training("challenger_finetune") if "challenger_finetune" in recipe.arms else {}
        share = 1 - training.get("challenger_start_epoch", 0) / training.get("num_train_epochs", 1)
        ratios = step_ratios(args.step_cost, share)
        seeds = sorted({r["seed"] for r in row_records})
        compute = sum(r["wall_s"] for r in row_records)
        full = [r for r in records if r["row"] == name and r["arm"] == "base_full_data"]
        reference = [] if not full else [
            f"Reference: base on the whole training split ({full[0]['train_size']:,} examples, "
            f"{full[0]['training']['num_train_epochs']:g} epoch(s), seed 0): test accuracy "
            f"{100 * full[0]['test']['accuracy']:.2f} %, NLL {full[0]['test']['nll']:.3f}.", ""]
        sections.append("\n".join([
            f"## {ROWS[name].title} ({ROWS[name].recipe}), seeds {seeds}", "",
            *reference,
            "Test split:", "", row_table(row_records, arms, ratios, "test"), "",
            "Validation split (the split the settings were chosen on), same runs:", "",
            row_table(row_records, arms, ratios, "validation"), "",
            f"{len(row_records)} runs, {compute / 60:.1f} min of one core in all.", "",
        ]))
        document["rows"][name] = {
            "recipe": ROWS[name].recipe, "data": row_records[0]["data"], "seeds": seeds,
            "summary": summarize_records(row_records, arms),
            "differences_to_base": {arm: paired_differences(row_records, arm) for arm in arms if arm != "base"},
            "step_time_ratio": ratios, "compute_s": compute, "full_data_reference": full[0] if full else None,
        }
    text = "\n".join([
        "# Finetuning all-MiniLM-L6-v2 on little data (test split, mean ± std over seeds)", "",
        "Δ accuracy: the arm minus base, seed by seed (same seed, same data), mean ± std over seeds, and on",
        "how many seeds the arm was better. Step time: median training step relative to base's step",
        "(benchmarks/step_cost.py, MiniLM shape).", "", *sections])
    prefix = Path(args.results)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".md").write_text(text, encoding="utf-8")
    prefix.with_suffix(".json").write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    from hf_challenger.experiments.compare import parse_seeds

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(parser, ROWS, "benchmarks/results/finetune_minilm_runs.jsonl", "benchmarks/results/finetune_minilm", 2)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--sweep", action="append", default=[], help="ROW=JSONL: sweep_tiny.py runs to take over")
    parser.add_argument("--step_cost", help="step_cost.py --json output with the MiniLM case")
    parser.add_argument("--full_data_epochs", type=float, default=0,
                        help="also train base once on each row's whole training split for this many epochs")
    args = parser.parse_args(argv)
    rows = chosen_rows(parser, args, ROWS)
    arms = [arm.strip() for arm in args.arms.split(",")]
    if not args.summary:
        seeds = parse_seeds(args.seeds)
        runs = Path(args.runs)
        runs.parent.mkdir(parents=True, exist_ok=True)
        for name, sweep in _parse_row_values(args.sweep, "--sweep", ROWS).items():
            print(f"{name}: took over {take_over_sweep(name, Path(sweep), runs, arms)} runs of {sweep}", flush=True)
        args.glove_path = None
        dirs = _data_dirs(args, rows, ROWS)
        for name in rows:
            run_row(name, args, dirs[name], seeds, arms, ROWS)
            if args.full_data_epochs > 0:
                full_data_reference(name, dirs[name], args.full_data_epochs, runs)
    print(report(args, rows, arms), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
