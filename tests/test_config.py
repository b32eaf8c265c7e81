"""ChallengerConfig validation and ChallengerTrainingArguments parsing (CLI and YAML)."""

from __future__ import annotations

import json

import pytest
from transformers import HfArgumentParser

from hf_challenger.config import ChallengerConfig, parse_num_features
from hf_challenger.training_args import ChallengerTrainingArguments


def test_defaults_are_the_papers_split() -> None:
    cfg = ChallengerConfig()
    assert (cfg.fraction_a, cfg.fraction_b, cfg.selection, cfg.perturbation) == (0.25, 0.25, "lrp", "challenger")
    assert cfg.rows(32) == (8, 8)
    json.dumps(cfg.to_dict())  # serialisable


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("fraction_a", -0.1, "[0, 1]"),
        ("fraction_a", 1.5, "[0, 1]"),
        ("fraction_b", float("nan"), "[0, 1]"),
        ("top_k", 0, ">= 1"),
        ("top_k", 2.0, "an integer"),
        ("num_features", -3, "count >= 1"),
        ("num_features", 0, "count >= 1"),
        ("num_features", 1.5, "(0, 1]"),
        ("num_features", 0.0, "(0, 1]"),
        ("num_features", True, "count >= 1"),
        ("num_features", "many", "(0, 1]"),
        ("alpha", -1.0, ">= 0"),
        ("beta", float("inf"), ">= 0"),
        ("selection", "saliency", "'lrp', 'random'"),
        ("perturbation", "noise", "'challenger', 'fgsm', 'pgd'"),
        ("perturbation_units", "sd", "'absolute', 'std'"),
        ("perturbation_units", None, "'absolute', 'std'"),
        ("epsilon", 0.0, "> 0"),
        ("start_step", -1, ">= 0"),
        ("start_epoch", -0.5, ">= 0"),
        ("adversarial_epsilon", 0.0, "> 0"),
        ("adversarial_steps", 0, ">= 1"),
        ("adversarial_step_size", -0.1, "> 0"),
        ("attribution_target", "", "'input', 'embeddings'"),
    ],
)
def test_bad_values_name_field_and_allowed_range(field: str, value: object, allowed: str) -> None:
    with pytest.raises(ValueError) as err:
        ChallengerConfig(**{field: value})
    message = str(err.value)
    assert message.startswith(field) and allowed in message and repr(value)[:4] in message


@pytest.mark.parametrize("perturbation", ["fgsm", "pgd"])
def test_std_units_are_refused_for_the_adversarial_baselines(perturbation: str) -> None:
    with pytest.raises(ValueError, match=rf"perturbation_units='std'.*perturbation='{perturbation}'.*absolute"):
        ChallengerConfig(perturbation=perturbation, perturbation_units="std")
    assert ChallengerConfig(perturbation_units="std").perturbation_units == "std"


def test_fractions_must_not_sum_over_one() -> None:
    with pytest.raises(ValueError, match=r"fraction_a \+ fraction_b must be <= 1.*0\.7.*0\.4"):
        ChallengerConfig(fraction_a=0.7, fraction_b=0.4)
    assert ChallengerConfig(fraction_a=0.5, fraction_b=0.5).rows(4) == (2, 2)


def test_num_features_count_versus_fraction() -> None:
    assert parse_num_features("128") == 128 and isinstance(parse_num_features("128"), int)
    assert parse_num_features("0.05") == 0.05 and parse_num_features("1.0") == 1.0
    assert parse_num_features("5e-2") == 0.05
    assert ChallengerConfig(num_features=7).features_per_row(100) == 7
    assert ChallengerConfig(num_features=0.05).features_per_row(3072) == 154  # 153.6 rounded half up
    assert ChallengerConfig(num_features=0.001).features_per_row(10) == 1  # never 0
    assert ChallengerConfig(num_features=1.0).features_per_row(10) == 10
    assert ChallengerConfig(num_features=50).features_per_row(10) == 50  # the trainer clamps and warns


def test_rows_round_half_up_and_never_overlap() -> None:
    cfg = ChallengerConfig()
    assert cfg.rows(1) == (0, 0)  # too small: the trainer trains it unchallenged (and warns)
    assert cfg.rows(2) == (1, 1)
    assert cfg.rows(6) == (2, 2)  # 1.5 -> 2
    assert ChallengerConfig(fraction_a=0.5, fraction_b=0.5).rows(3) == (2, 1)  # B clipped to what is left
    assert ChallengerConfig(fraction_a=1.0, fraction_b=0.0).rows(5) == (5, 0)


def test_pgd_step_size_default() -> None:
    assert ChallengerConfig(adversarial_epsilon=0.1, adversarial_steps=5).pgd_step_size == pytest.approx(0.05)
    assert ChallengerConfig(adversarial_step_size=0.01).pgd_step_size == 0.01


def test_training_args_from_cli(tmp_path) -> None:
    parser = HfArgumentParser(ChallengerTrainingArguments)
    (args,) = parser.parse_args_into_dataclasses(
        [
            "--output_dir", str(tmp_path),
            "--challenger_top_k", "3",
            "--challenger_num_features", "128",
            "--challenger_alpha", "0.25",
            "--challenger_selection", "random",
            "--challenger_start_epoch", "2",
            "--challenger_attribution_target", "embeddings",
            "--challenger_enabled", "false",
            "--report_to", "none",
        ]
    )  # fmt: skip
    cfg = args.challenger_config()
    assert cfg.top_k == 3 and cfg.num_features == 128 and isinstance(cfg.num_features, int)
    assert (cfg.alpha, cfg.selection, cfg.start_epoch, cfg.attribution_target) == (0.25, "random", 2.0, "embeddings")
    assert args.challenger_enabled is False
    (args,) = parser.parse_args_into_dataclasses(["--output_dir", str(tmp_path), "--challenger_num_features", "0.1"])
    assert args.challenger_config().num_features == 0.1


def test_training_args_from_yaml(tmp_path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(
        f"output_dir: {tmp_path}\n"
        "learning_rate: 0.001\n"
        "challenger_num_features: 64\n"
        "challenger_fraction_a: 0.3\n"
        "challenger_perturbation: pgd\n"
        "challenger_adversarial_steps: 3\n"
        "report_to: none\n"
    )
    (args,) = HfArgumentParser(ChallengerTrainingArguments).parse_yaml_file(str(path))
    cfg = args.challenger_config()
    assert (cfg.num_features, cfg.fraction_a, cfg.perturbation, cfg.adversarial_steps) == (64, 0.3, "pgd", 3)
    assert args.learning_rate == 0.001
    assert json.loads(args.to_json_string())["challenger_num_features"] == 64  # saved with the checkpoint


def test_training_args_errors_name_the_argument(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"^challenger_top_k must be an integer >= 1; got 0"):
        ChallengerTrainingArguments(output_dir=str(tmp_path), challenger_top_k=0)
    with pytest.raises(ValueError, match=r"challenger_fraction_a \+ challenger_fraction_b must be <= 1"):
        ChallengerTrainingArguments(output_dir=str(tmp_path), challenger_fraction_a=0.9, challenger_fraction_b=0.2)
    with pytest.raises(ValueError, match=r"^challenger_num_features must be .*got the float 3\.5"):
        ChallengerTrainingArguments(output_dir=str(tmp_path), challenger_num_features="3.5")
    with pytest.raises(ValueError, match=r"^challenger_perturbation_units must be one of 'absolute', 'std'; got 'sigma'"):
        ChallengerTrainingArguments(output_dir=str(tmp_path), challenger_perturbation_units="sigma")
    with pytest.raises(SystemExit):  # argparse refuses a non-numeric alpha itself
        HfArgumentParser(ChallengerTrainingArguments).parse_args_into_dataclasses(
            ["--output_dir", str(tmp_path), "--challenger_alpha", "big"]
        )
