"""The command line answers help, version, argument and path errors without importing torch or transformers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Runs the CLI in a fresh interpreter and reports its exit status, what it printed and which
# heavy packages were imported by then.
PROBE = """
import contextlib, io, json, sys
from hf_challenger.cli import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        code = main(sys.argv[1:])
    except SystemExit as stop:
        code = stop.code
heavy = sorted(name for name in ("torch", "transformers", "accelerate", "datasets") if name in sys.modules)
print(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue(), "heavy": heavy}))
"""


def probe(*argv: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv, code, stream, expected",
    [
        (["--help"], 0, "out", "{train,compare}"),
        (["train", "--help"], 0, "out", "ChallengerTrainingArguments"),
        (["compare", "--help"], 0, "out", "--seeds"),
        (["--version"], 0, "out", "hf-challenger 0.1.0"),
        ([], 2, "err", "the following arguments are required"),
        (["tarin", "x.yaml"], 2, "err", "invalid choice: 'tarin'"),
        (["compare"], 2, "err", "the following arguments are required: recipe"),
        (["train", "missing.yaml"], 2, "err", "recipe file missing.yaml does not exist"),
    ],
)
def test_answers_without_importing_torch_or_transformers(argv, code, stream, expected):
    report = probe(*argv)
    assert report["code"] == code
    assert expected in report[stream]
    assert report["heavy"] == []


def test_path_errors_name_the_path_before_importing_torch(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\n")
    missing = tmp_path / "nowhere"
    cases = [
        (["train", str(tmp_path)], f"recipe file {tmp_path} does not exist (it is a folder)"),
        (["train", str(recipe), "--data_dir", str(missing)], f"--data_dir {missing} is not a folder"),
        (["compare", str(recipe), "--data_dir", str(recipe)], f"--data_dir {recipe} is not a folder"),
        (["compare", str(recipe), "--glove_path", str(missing)], f"--glove_path {missing} does not exist"),
    ]
    for argv, message in cases:
        report = probe(*argv)
        assert report["code"] == 2, argv
        assert message in report["err"], (argv, report["err"])
        assert report["heavy"] == [], argv


def test_seed_and_field_errors_are_answered_before_importing_torch(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\n")
    cases = [
        (["compare", str(recipe), "--seeds", "x"], "seeds must be a count N (seeds 0..N-1) or a comma list"),
        (["compare", str(recipe), "--seeds", "1,1"], "seeds must be distinct, got [1, 1]"),
        (["train", str(recipe), "--learning_rat", "1"], "unknown key --'learning_rat' (did you mean 'learning_rate'?)"),
        (["compare", str(recipe), "--no_bf16", "--challenger_alpha=3", "--challenger_alhpa=3"],
         "unknown key --'challenger_alhpa' (did you mean 'challenger_alpha'?)"),
    ]
    for argv, message in cases:
        report = probe(*argv)
        assert report["code"] == 2, argv
        assert message in report["err"], (argv, report["err"])
        assert report["heavy"] == [], argv


def test_field_names_read_from_source_equal_the_dataclass_fields():
    """The names the command line checks without importing torch are exactly the init fields of
    ChallengerTrainingArguments (TrainingArguments plus challenger_*) of the installed versions."""
    from dataclasses import fields

    from hf_challenger import ChallengerTrainingArguments
    from hf_challenger.experiments.field_names import training_field_names

    expected = sorted(f.name for f in fields(ChallengerTrainingArguments) if f.init)
    assert list(training_field_names()) == expected
    assert "challenger_alpha" in expected and "learning_rate" in expected


def test_bare_package_import_stays_light():
    script = "import sys, hf_challenger; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "statement",
    [
        "import hf_challenger; hf_challenger.ChallengerConfig",
        "from hf_challenger import ChallengerTrainer",
        "from hf_challenger.trainer import ChallengerTrainer",
        "from hf_challenger.training_args import ChallengerTrainingArguments",
        "import hf_challenger.models",
    ],
)
def test_the_plugin_entry_points_register_the_auto_classes(statement):
    lookup = "from transformers import AutoConfig; print(type(AutoConfig.for_model('challenger-vgg')).__name__)"
    script = f"{statement}; {lookup}"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "VGGConfig"
