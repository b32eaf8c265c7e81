"""Hyperparameter sweep of Challenger on a tiny recipe (tinyMNIST; the Table 2 rows):
one run per setting and seed,
validation AND test metrics appended to a JSONL file as each run finishes (resumable).

Select on the validation metrics only; the test metrics are stored so that the finally chosen
setting can be reported without rerunning it.

A setting is a name plus training-field overrides of the recipe's ``challenger`` arm (or of
the ``base`` arm: ``{"challenger_enabled": false}``). Settings come from a JSON file
(``{"name": {field: value, ...}, ...}``) or ``--setting name='{"challenger_alpha": 3}'``.

    python benchmarks/sweep_tiny.py --settings benchmarks/sweep_stage1.json --seeds 0,1 \\
        --workers 2 --out benchmarks/results/sweep_tiny.jsonl
    python benchmarks/sweep_tiny.py --summary benchmarks/results/sweep_tiny.jsonl
    python benchmarks/sweep_tiny.py --recipe recipes/tiny_reuters.yaml --data_dir REUTERS \
        --glove_path GLOVE --settings SETTINGS.json --seeds 0,1,2,3,4 --workers 1 --out OUT.jsonl

Each worker process runs with ``torch.set_num_threads(--threads)`` (default 1: the tiny VGG11
convolutions scale badly across threads, so two single-thread runs side by side beat one
two-thread run on a 2-core machine) and loads the data split once.
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
from tiny_workers import STATE, recorded_data, run_once, worker_pool


def _run_job(job: tuple[str, dict[str, Any], int]) -> dict[str, Any]:
    name, overrides, seed = job
    recipe = STATE["recipe"]
    result, wall, filters, curve = run_once("challenger", seed, f"sweep-{name}", overrides)
    return {
        "setting": name,
        "overrides": overrides,
        "seed": seed,
        "training": json.loads(json.dumps(recipe.arm_training("challenger", overrides), default=str)),
        "data": recorded_data(recipe),
        "validation": result.validation,
        "test": result.metrics,
        "train_runtime": result.train_runtime,
        "wall_s": wall,
        "filter_cosine": filters,
        "validation_curve": curve,
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL results file (empty list if it does not exist)."""
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{path}:{number}: not a JSON line: {error}"
                ) from error
    return records


def expand_curves(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` plus one validation-only record ``"<setting>@e<epoch>"`` per point of each run's
    ``validation_curve`` (evaluations during training, e.g. ``eval_strategy: steps``): at a constant
    learning rate the first E epochs of a longer run are the run of E epochs, so one run per seed
    sweeps the training length. The wall time of such a point is the run's, scaled by the epochs."""
    expanded = list(records)
    for record in records:
        epochs = record["overrides"].get("num_train_epochs")
        for point in record.get("validation_curve", []):
            label = f"{point['epoch']:g}"
            scale = point["epoch"] / epochs if epochs else 1.0
            expanded.append({
                "setting": f"{record['setting']}@e{label}",
                "overrides": {**record["overrides"], "num_train_epochs": point["epoch"]},
                "seed": record["seed"],
                "validation": point,
                "wall_s": record["wall_s"] * scale,
            })
    return expanded


def summarize(
    records: list[dict[str, Any]], split: str = "validation"
) -> list[dict[str, Any]]:
    """Per setting: mean and std (ddof=1) over seeds of accuracy, NLL, ECE on ``split`` (records
    without that split, such as the validation-only curve points of :func:`expand_curves`, are
    left out)."""
    by_setting: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if split not in record:
            continue
        by_setting.setdefault(record["setting"], []).append(record)
    rows = []
    for name, group in by_setting.items():
        row: dict[str, Any] = {
            "setting": name,
            "overrides": group[0]["overrides"],
            "n": len(group),
        }
        row["seeds"] = sorted(r["seed"] for r in group)
        for key in ("accuracy", "nll", "ece"):
            values = np.array([r[split][key] for r in group], dtype=float)
            row[key] = float(values.mean())
            row[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        row["wall_s"] = float(np.mean([r["wall_s"] for r in group]))
        rows.append(row)
    return sorted(rows, key=lambda r: -r["accuracy"])


def format_summary(rows: list[dict[str, Any]], split: str) -> str:
    lines = [
        f"{split} metrics, mean ± std over seeds (sorted by accuracy)",
        f"{'setting':<28} {'n':>2} {'acc %':>13} {'NLL':>13} {'ECE (0-1)':>16} {'wall s':>7}",
    ]
    for r in rows:
        lines.append(
            f"{r['setting']:<28} {r['n']:>2} {100 * r['accuracy']:6.2f} ± {100 * r['accuracy_std']:4.2f} "
            f"{r['nll']:6.3f} ± {r['nll_std']:4.2f}  {r['ece']:6.4f} ± {r['ece_std']:6.4f} "
            f"{r['wall_s']:7.1f}"
        )
    lines += ["", "settings (training-field overrides of the recipe's challenger arm):"]
    lines += [f"{r['setting']:<28} {json.dumps(r['overrides'])}" for r in rows]
    return "\n".join(lines)


def parse_settings(files: list[str], inline: list[str]) -> dict[str, dict[str, Any]]:
    settings: dict[str, dict[str, Any]] = {}
    for file in files:
        path = Path(file)
        if not path.is_file():
            raise FileNotFoundError(f"settings file {path} does not exist")
        loaded = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise TypeError(
                f"{path}: expected a JSON object of name -> overrides, got {type(loaded).__name__}"
            )
        settings.update(loaded)
    for item in inline:
        name, sep, text = item.partition("=")
        if not sep:
            raise ValueError(
                f"--setting must be NAME='{{json overrides}}', got {item!r}"
            )
        settings[name] = json.loads(text)
    for name, overrides in settings.items():
        if not isinstance(overrides, dict):
            raise TypeError(
                f"setting {name!r}: overrides must be a JSON object, got {overrides!r}"
            )
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipe", default="recipes/tiny_mnist.yaml")
    parser.add_argument("--data_dir", help="data folder of the recipe's benchmark (upstream layout)")
    parser.add_argument("--glove_path", help="GloVe file or folder of a text recipe")
    parser.add_argument(
        "--settings", action="append", default=[], help="JSON file: name -> overrides"
    )
    parser.add_argument(
        "--setting", action="append", default=[], help="NAME='{json overrides}'"
    )
    parser.add_argument("--only", help="comma list: run only these of the given settings")
    parser.add_argument("--seeds", default="0,1", help="comma list of training seeds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads per worker"
    )
    parser.add_argument("--out", default="benchmarks/results/sweep_tiny.jsonl")
    parser.add_argument("--summary", help="only print the summary of this JSONL file")
    parser.add_argument("--split", default="validation", choices=("validation", "test"))
    args = parser.parse_args(argv)

    if args.summary:
        print(
            format_summary(
                summarize(expand_curves(read_jsonl(Path(args.summary))), args.split), args.split
            )
        )
        return 0
    settings = parse_settings(args.settings, args.setting)
    if not settings:
        parser.error("give --settings FILE and/or --setting NAME=JSON")
    if args.only:
        names = [name.strip() for name in args.only.split(",")]
        unknown = [name for name in names if name not in settings]
        if unknown:
            parser.error(f"--only: no setting(s) {unknown}; given: {', '.join(settings)}")
        settings = {name: settings[name] for name in names}
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["setting"], r["seed"]) for r in read_jsonl(out)}
    for record in read_jsonl(out):  # a name must always mean the same overrides
        if (
            record["setting"] in settings
            and record["overrides"] != settings[record["setting"]]
        ):
            raise ValueError(
                f"setting {record['setting']!r} in {out} has other overrides: {record['overrides']}"
            )
    jobs = [
        (name, o, seed)
        for name, o in settings.items()
        for seed in seeds
        if (name, seed) not in done
    ]
    print(f"{len(jobs)} runs to do ({len(done)} already in {out})", flush=True)
    start = time.perf_counter()
    with worker_pool(args.workers, args.recipe, args.threads, args.data_dir, args.glove_path) as pool:
        for index, record in enumerate(pool.imap_unordered(_run_job, jobs), 1):
            with out.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            v = record["validation"]
            print(
                f"[{index}/{len(jobs)} {time.perf_counter() - start:6.0f}s] {record['setting']} seed {record['seed']}: "
                f"val acc {100 * v['accuracy']:.2f} NLL {v['nll']:.3f} ECE {v['ece']:.4f} "
                f"({record['wall_s']:.0f} s)",
                flush=True,
            )
    names = set(settings)
    rows = [
        r for r in summarize(expand_curves(read_jsonl(out)), args.split)
        if r["setting"].partition("@")[0] in names
    ]
    print(format_summary(rows, args.split))
    return 0


if __name__ == "__main__":
    sys.exit(main())
