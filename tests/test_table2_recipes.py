"""The Table 2 recipes (tinyCIFAR, tinyReuters, tiny20Newsgroups): the paper's settings where it
states them, and each builds data, model and trainer on upstream-format files the test writes, and
takes one Challenger step."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from hf_challenger.experiments.build import build_model, build_trainer, build_training_arguments, load_recipe_data
from hf_challenger.experiments.recipe import load_recipe

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
TABLE2 = {"tiny_cifar10": "vision", "tiny_reuters": "text", "tiny_newsgroups": "text"}


@pytest.mark.parametrize("name", sorted(TABLE2))
def test_table2_recipes_use_the_papers_setting(name):
    recipe = load_recipe(RECIPES / f"{name}.yaml")
    training = recipe.training
    assert recipe.train_per_class is not None  # tiny: a few examples per class
    assert training["weight_decay"] == 0 and training["lr_scheduler_type"] == "constant"
    assert training["optim"].startswith("adam")
    assert recipe.model_config["dropout"] == 0.0
    assert list(recipe.arms) == ["base", "challenger", "random"]
    assert recipe.arm_training("base")["challenger_enabled"] is False
    assert recipe.arm_training("random")["challenger_selection"] == "random"
    challenger = recipe.arm_training("challenger")
    assert challenger.get("challenger_start_epoch", 0) == 0  # challenged from the first step
    if TABLE2[name] == "vision":
        assert challenger["challenger_top_k"] == 5 and recipe.model_config["use_batch_norm"] is False
        assert recipe.model_config["depth"] == 16 and recipe.model_config["num_channels"] == 3
    else:
        assert challenger["challenger_top_k"] == 10
        assert challenger["challenger_attribution_target"] == "embeddings"
        assert recipe.glove_path == "default" and recipe.model_config["freeze_embeddings"] is True


def _write_data(name: str, folder: Path, per_class: int) -> dict:
    """Upstream-format files for the recipe ``name`` (``per_class`` training examples per class) in
    ``folder``; returns data-option changes."""
    from data_fixtures import write_bydate, write_cifar, write_reuters

    if name == "tiny_cifar10":  # 5 batches: per_class + 10 per class, of which 10 go to validation
        write_cifar(folder, per_batch=2 * (per_class + 10))
        return {"validation_size": 10}
    if name == "tiny_newsgroups":
        write_bydate(folder, per_group=40)
        return {"validation_size": 6, "min_frequency": 1}
    write_reuters(folder)
    return {"validation_size": 1, "min_frequency": 1}


def _write_glove(path: Path, dim: int) -> Path:
    rng = np.random.default_rng(0)
    words = ["orbit", "rocket", "pixel", "render", "god", "belief", "profit", "merger", "shares", "said"]
    path.write_text("".join(f"{w} " + " ".join(f"{v:.4f}" for v in rng.standard_normal(dim)) + "\n" for w in words))
    return path


@pytest.mark.parametrize("name", sorted(TABLE2))
def test_table2_recipe_builds_and_takes_a_challenger_step(name, tmp_path):
    recipe = load_recipe(RECIPES / f"{name}.yaml")
    changes = _write_data(name, tmp_path / "data", recipe.train_per_class)
    glove = None
    if recipe.glove_path is not None:
        glove = str(_write_glove(tmp_path / "glove.txt", recipe.model_config["embedding_dim"]))
    recipe = recipe.with_paths(data_dir=str(tmp_path / "data"), glove_path=glove)
    options = {**recipe.data_options, **changes, "cache_dir": str(tmp_path / "cache")}
    recipe = dataclasses.replace(recipe, data_options=options)
    if recipe.train_per_class_strict:
        datasets = load_recipe_data(recipe)
    else:  # the written Reuters files have fewer documents per topic than the recipe keeps
        with pytest.warns(UserWarning, match="too few examples"):
            datasets = load_recipe_data(recipe)
    counts = np.bincount(np.asarray(datasets["train"]["labels"]))
    assert counts.max() <= recipe.train_per_class and counts.min() >= 1  # the tiny subset, per class
    if recipe.train_per_class_strict:
        assert set(counts) == {recipe.train_per_class}
    model = build_model(recipe, datasets)
    values = {**recipe.arm_training("challenger"), "output_dir": str(tmp_path / "run"), "seed": 0,
              "max_steps": 1, "per_device_train_batch_size": 4, "logging_steps": 1, "disable_tqdm": True}
    if TABLE2[name] == "text":  # the written files have 2-3 topics/groups; K must not exceed them
        values["challenger_top_k"] = 2
    trainer = build_trainer(recipe, model, build_training_arguments(values), datasets)
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "challenger_challenged_rows" in entry]
    assert logged and logged[0]["challenger_challenged_rows"] > 0


def test_train_per_class_strict_false_keeps_short_classes_whole(tmp_path):
    """Strict (the default) refuses a class with fewer examples than train_per_class; false keeps
    every example of such a class and the full quota of the others."""
    from data_fixtures import write_cifar

    from hf_challenger.experiments.recipe import RecipeError, parse_recipe

    write_cifar(tmp_path / "data", per_batch=20)  # 10 per class in train
    mapping = {
        "name": "t",
        "model": {"class": "VGGForImageClassification", "config": {"depth": 11, "num_channels": 3, "image_size": 32}},
        "data": {"benchmark": "cifar10", "train_per_class": 12,
                 "options": {"data_dir": str(tmp_path / "data"), "validation_size": 10,
                             "cache_dir": str(tmp_path / "cache")}},
        "training": {"learning_rate": 1e-3},
    }
    with pytest.raises(ValueError, match="too few examples"):
        load_recipe_data(parse_recipe(mapping))
    mapping["data"]["train_per_class_strict"] = False
    recipe = parse_recipe(mapping)
    assert recipe.to_dict()["data"]["train_per_class_strict"] is False
    with pytest.warns(UserWarning, match="too few examples"):
        datasets = load_recipe_data(recipe)
    assert len(datasets["train"]) == 90  # 10 per class minus the 10 validation images, all kept
    with pytest.raises(RecipeError, match="train_per_class_strict must be true or false"):
        parse_recipe({**mapping, "data": {**mapping["data"], "train_per_class_strict": 1}})


def test_eval_per_class_caps_validation_and_test_only(tmp_path):
    """eval_per_class keeps at most that many validation and test images per class, the same rows
    for every run; the training split is untouched and a bad value is refused by name."""
    from data_fixtures import write_cifar

    from hf_challenger.experiments.recipe import RecipeError, parse_recipe

    write_cifar(tmp_path / "data", per_batch=20)
    mapping = {
        "name": "t",
        "model": {"class": "VGGForImageClassification", "config": {"depth": 11, "num_channels": 3, "image_size": 32}},
        "data": {"benchmark": "cifar10", "options": {"data_dir": str(tmp_path / "data"), "validation_size": 30,
                                                     "cache_dir": str(tmp_path / "cache")}},
        "training": {"learning_rate": 1e-3},
    }
    whole = load_recipe_data(parse_recipe(mapping))
    mapping["data"]["eval_per_class"] = 2
    recipe = parse_recipe(mapping)
    assert recipe.to_dict()["data"]["eval_per_class"] == 2
    capped = load_recipe_data(recipe)
    assert len(capped["train"]) == len(whole["train"])
    for split in ("validation", "test"):
        labels = np.asarray(capped[split]["labels"])
        whole_counts = np.bincount(np.asarray(whole[split]["labels"]), minlength=10)
        assert (np.bincount(labels, minlength=10) == np.minimum(whole_counts, 2)).all()
        again = load_recipe_data(recipe)[split]
        assert np.array_equal(np.asarray(again["pixel_values"]), np.asarray(capped[split]["pixel_values"]))
    with pytest.raises(RecipeError, match="data.eval_per_class"):
        parse_recipe({**mapping, "data": {**mapping["data"], "eval_per_class": 0}})
