"""Command line: ``hf-challenger train`` and ``hf-challenger compare``.

::

    hf-challenger train RECIPE [--arm NAME] [--field value ...]
    hf-challenger compare RECIPE [--seeds N|0,3,7] [--arms base,challenger] [--output_dir D] [--field value ...]

``--field value`` sets any :class:`~hf_challenger.ChallengerTrainingArguments` field
(``--learning_rate 1e-3``, ``--challenger_alpha 0.5``, ``--push_to_hub true`` ...), parsed by
``transformers.HfArgumentParser``; it overrides the recipe's ``training`` section, and an
arm's own overrides still win over it (an arm is defined by what it changes).

Both commands run unchanged under ``accelerate launch`` and ``torchrun``: every process
trains (data parallel), only the main process writes tables, figures and prints. Each command
holds a lock on its output folder while it runs (:mod:`hf_challenger.experiments.locks`): a second run into
the same folder is refused, naming the run that holds it. On a
machine without GPUs a multi-process launch trains with ``use_cpu=True`` (gloo).

``--help``, ``--version``, argument errors (``--seeds``, an unknown ``--field``) and missing files
(the recipe, ``--data_dir``, ``--glove_path``) are answered before torch or transformers is
imported, so they take a fraction of a second; everything else is checked before any training
starts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

DESCRIPTION = "Attribution-guided training (Challenger, arXiv 2205.15094) for the Hugging Face Trainer."
FIELDS_HELP = (
    "Any further --field value pairs set ChallengerTrainingArguments fields (transformers "
    "TrainingArguments plus challenger_*), e.g. --learning_rate 1e-3 --challenger_alpha 0.5."
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with the ``train`` and ``compare`` subcommands."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="hf-challenger", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,compare}")

    train = commands.add_parser(
        "train",
        help="train one model from a recipe",
        description="Train one model from RECIPE, evaluate it on the validation and test splits and save it "
        "with save_pretrained (plus recipe.yaml, metrics.json and a model card) in --output_dir "
        "(default outputs/<recipe name>[/<arm>]). " + FIELDS_HELP,
    )
    train.add_argument("recipe", type=Path, help="recipe YAML file (see recipes/)")
    train.add_argument("--arm", default=None, help="apply this arm's overrides (default: the training section as is)")

    _add_path_options(train)

    compare = commands.add_parser(
        "compare",
        help="train the recipe's arms over several seeds and tabulate them",
        description="Train each arm of RECIPE over several seeds, evaluate on the test split and write the "
        "paper-style table (results.json, results.md), attribution-map and reliability-diagram figures, and "
        "every model under OUTPUT_DIR/<arm>/seed-<n>/. " + FIELDS_HELP,
    )
    compare.add_argument("recipe", type=Path, help="recipe YAML file (see recipes/)")
    compare.add_argument(
        "--seeds", default="3", help="number of seeds N (seeds 0..N-1) or a list like 0,3,7 (default 3)"
    )
    compare.add_argument(
        "--arms", default=None, help="comma-separated arms in table order (default: all of the recipe's)"
    )
    compare.add_argument("--output_dir", type=Path, default=None, help="results folder (default outputs/<recipe name>)")
    compare.add_argument("--verbose", action="store_true", help="print the Trainer's log dicts while training")
    _add_path_options(compare)
    return parser


def _add_path_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data_dir", default=None, help="folder with the benchmark's upstream files (sets data.options.data_dir)"
    )
    parser.add_argument(
        "--glove_path",
        default=None,
        help="GloVe text file, or folder with *_emb.npy + *_index.parquet, for text models "
        "(sets model.glove_path; 'default' too)",
    )


def path_error(options: argparse.Namespace) -> str | None:
    """What is wrong with the paths given on the command line, or None; reads no file.

    The recipe must be a file, ``--data_dir`` a folder, ``--glove_path`` an existing file or
    folder (or ``default``). Checked before torch is imported, so a mistyped path is answered
    at once.
    """
    if not options.recipe.is_file():
        return f"recipe file {options.recipe} does not exist" + (" (it is a folder)" if options.recipe.is_dir() else "")
    if options.data_dir is not None and not Path(options.data_dir).is_dir():
        return f"--data_dir {options.data_dir} is not a folder; pass the folder holding the benchmark's upstream files"
    if options.glove_path not in (None, "default") and not Path(options.glove_path).exists():
        return (
            f"--glove_path {options.glove_path} does not exist; pass a GloVe text file, a folder with "
            "*_emb.npy + *_index.parquet, or 'default'"
        )
    return None


def argument_error(options: argparse.Namespace, rest: Sequence[str]) -> str | None:
    """What is wrong with ``--seeds`` or the ``--field value`` names, or None; checked before torch
    is imported (:mod:`hf_challenger.experiments.field_names` reads the field names from source)."""
    from .experiments.recipe import RecipeError, check_override_names
    from .experiments.seeds import parse_seeds

    if options.command == "compare":
        try:
            parse_seeds(options.seeds)
        except (TypeError, ValueError) as error:
            return str(error)
    try:
        check_override_names(rest)
    except RecipeError as error:
        return str(error)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hf-challenger`` console script; returns the exit status.

    ``--help``, ``--version``, argument errors and missing paths exit before torch or
    transformers is imported. Recipe, overrides, seeds and arms are then all checked (and
    every arm's training arguments built once) before any training starts, so a typo fails in
    seconds with a message that names it; errors during training propagate with their
    traceback.
    """
    parser = build_parser()
    options, rest = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    problem = path_error(options) or argument_error(options, rest)
    if problem is not None:
        parser.exit(2, f"hf-challenger {options.command}: error: {problem}\n")

    from accelerate import PartialState

    from .experiments.build import build_training_arguments, load_recipe_data, parse_overrides
    from .experiments.locks import OutputFolderBusy, output_lock
    from .experiments.compare import run_comparison, run_training_values, select_arms, train_and_evaluate
    from .experiments.preflight import check_runs
    from .experiments.recipe import RecipeError, load_recipe
    from .experiments.seeds import parse_seeds
    from .experiments.summary import format_table, summarize

    try:
        recipe = load_recipe(options.recipe).with_paths(options.data_dir, options.glove_path)
        overrides = parse_overrides(rest)
        if options.command == "train":
            if options.arm is not None:
                select_arms(recipe, [options.arm])
            default_dir = Path("outputs") / recipe.name / (options.arm or "")
            run_dir = Path(overrides.pop("output_dir", None) or recipe.training.get("output_dir") or default_dir)
            seed = overrides.pop("seed", recipe.training.get("seed", 42))
            values = run_training_values(recipe, options.arm, seed, run_dir, overrides)
            build_training_arguments(values)
        else:
            seeds = parse_seeds(options.seeds)  # checked above; parsed again for the list
            arms = select_arms(recipe, options.arms)
            output_dir = options.output_dir or Path("outputs") / recipe.name
            for arm in arms:
                build_training_arguments(run_training_values(recipe, arm, seeds[0], output_dir / arm, overrides))
    except (RecipeError, ValueError, FileNotFoundError) as error:
        parser.exit(2, f"hf-challenger {options.command}: error: {error}\n")

    if not getattr(options, "verbose", False):  # keep Trainer's bars, drop per-file weight loading/saving bars
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    with ExitStack() as stack:
        try:  # the data, the model and each Challenger arm's first step are checked before any run trains
            if options.command == "compare":
                run_comparison(recipe, seeds, output_dir, arms=arms, overrides=overrides, quiet=not options.verbose)
                return 0
            stack.enter_context(output_lock(run_dir, enabled=PartialState().is_main_process))  # one run per folder
            datasets = load_recipe_data(recipe)
            check_runs(recipe, [(options.arm, values)], datasets)
        except (RecipeError, OutputFolderBusy) as error:
            parser.exit(2, f"hf-challenger {options.command}: error: {error}\n")
        result = train_and_evaluate(recipe, options.arm, values, datasets, quiet=False)
    if PartialState().is_main_process:
        task = "multi_label" if result.labels.ndim == 2 else "single_label"
        print(f"\n{recipe.name}: test metrics\n{format_table(summarize([result]), task)}\nSaved to {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
