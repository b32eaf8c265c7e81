"""Worker processes shared by ``sweep_tiny.py``, ``reproduce_tiny.py`` and ``reproduce_table2.py``.

Each worker loads the recipe and its data split once (:func:`init_worker`), runs single-threaded
torch (the tiny VGG11 convolutions scale badly across threads, so runs side by side beat one run on
all cores), and serves one run only: a trained run leaves 1-2 GB behind in its process on CPU.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

STATE: dict[str, Any] = {}


def init_worker(
    recipe_path: str, threads: int, data_dir: str | None = None, glove_path: str | None = None
) -> None:
    """Load the recipe (with ``data_dir``/``glove_path`` replaced where given) and its datasets into
    :data:`STATE`; quiet logging; ``threads`` torch threads."""
    import torch
    import transformers

    from hf_challenger.experiments.build import load_recipe_data
    from hf_challenger.experiments.recipe import load_recipe

    torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error()
    logging.getLogger("hf_challenger").setLevel(logging.WARNING)
    recipe = load_recipe(recipe_path).with_paths(data_dir, glove_path)
    STATE["recipe"] = recipe
    STATE["datasets"] = load_recipe_data(recipe)


def recorded_data(recipe: Any) -> dict[str, Any]:
    """The recipe's ``data`` section as every run record stores it and resuming compares it: what was
    loaded, not from where (``data.options.data_dir`` left out, so the same data in another folder
    matches)."""
    import json

    data = json.loads(json.dumps(recipe.to_dict()["data"], default=str))
    data.get("options", {}).pop("data_dir", None)
    return data


def worker_pool(
    workers: int, recipe_path: str, threads: int, data_dir: str | None = None, glove_path: str | None = None
) -> Pool:
    """A fork pool of ``workers`` processes, each initialised by :func:`init_worker`, one run each.

    The recipe is loaded here first, so a missing package or a bad recipe fails once in the parent
    (a pool respawns workers whose initializer raises, forever).
    """
    from hf_challenger.experiments.recipe import load_recipe

    load_recipe(recipe_path)
    return mp.get_context("fork").Pool(
        workers, initializer=init_worker, initargs=(recipe_path, threads, data_dir, glove_path), maxtasksperchild=1
    )


def filter_similarity(recipe: Any, folder: str | Path) -> dict[str, float]:
    """Mean pairwise filter cosine similarity per Conv/Linear layer of the model saved in ``folder``."""
    from hf_challenger.experiments.build import model_class_of
    from hf_challenger.metrics import layer_filter_cosine_similarity

    model = model_class_of(recipe).from_pretrained(str(folder))
    return layer_filter_cosine_similarity(model)


def validation_curve(log_history: list[dict[str, Any]]) -> list[dict[str, float]]:
    """The evaluations made during training (``eval_strategy``), in order: ``epoch``, ``step`` and
    the validation metrics (``accuracy``, ``nll``, ``ece`` ... without the ``eval_`` prefix)."""
    curve = []
    for entry in log_history:
        if "eval_loss" in entry:
            point = {"epoch": float(entry["epoch"]), "step": int(entry["step"])}
            point.update(
                {key[len("eval_"):]: float(value) for key, value in entry.items()
                 if key.startswith("eval_") and not key.endswith(("_runtime", "_per_second"))}
            )
            curve.append(point)
    return curve


def run_once(
    arm: str, seed: int, prefix: str, overrides: dict[str, Any] | None = None
) -> tuple[Any, float, dict, list[dict[str, float]]]:
    """Train and evaluate one ``(arm, seed)`` run of the worker's recipe in a temporary folder.

    Returns the :class:`~hf_challenger.experiments.compare.RunResult`, the wall time of training and evaluation
    in seconds, the filter cosine similarities of the trained model and the validation curve of the
    evaluations made during training (empty unless ``overrides`` set an ``eval_strategy``; the
    folder is removed).
    """
    import json
    import shutil
    import tempfile
    import time

    from hf_challenger.experiments.compare import run_training_values, train_and_evaluate

    recipe = STATE["recipe"]
    run_dir = Path(tempfile.mkdtemp(prefix=f"{prefix}-{arm}-{seed}-"))
    try:
        values = run_training_values(recipe, arm, seed, run_dir, overrides)
        values.update(disable_tqdm=True, logging_strategy="no")
        start = time.perf_counter()
        result = train_and_evaluate(recipe, arm, values, STATE["datasets"], quiet=True)
        wall = time.perf_counter() - start
        history = json.loads((run_dir / "log_history.json").read_text(encoding="utf-8"))
        return result, wall, filter_similarity(recipe, run_dir), validation_curve(history)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
