"""Bools and numbers given as text, and non-finite knobs: one reading path, errors naming the field."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from transformers import HfArgumentParser

from hf_challenger.config import ChallengerConfig
from hf_challenger.fields import parse_bool, parse_field, parse_float, parse_int
from hf_challenger.lrp import EpsilonLRP
from hf_challenger.trainer import ChallengerTrainer
from hf_challenger.training_args import ChallengerTrainingArguments


def args(tmp_path, **values) -> ChallengerTrainingArguments:
    return ChallengerTrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, **values)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("false", False), ("False", False), ("no", False), ("0", False), ("n", False), (" f ", False),
     ("true", True), ("TRUE", True), ("yes", True), ("1", True), ("y", True), ("t", True), (0, False), (1, True)],
)  # fmt: skip
def test_bool_fields_read_text_as_hf_argument_parser_does(tmp_path, text, expected) -> None:
    parsed = args(tmp_path, challenger_enabled=text, do_train=text)
    assert parsed.challenger_enabled is expected and parsed.do_train is expected


def test_enabled_false_as_text_gives_a_plain_trainer(tmp_path) -> None:
    """The bug: "false" was truthy, so the base arm of a comparison trained with Challenger."""
    trainer = ChallengerTrainer(model=nn.Linear(2, 2), args=args(tmp_path, challenger_enabled="false"))
    assert trainer.challenger_enabled is False and not trainer.challenge_active()


@pytest.mark.parametrize("value", ["maybe", "", "2", 2, 0.0, [], "off"])
def test_bool_fields_refuse_anything_else_naming_the_field(tmp_path, value) -> None:
    with pytest.raises(ValueError, match=r"^challenger_enabled must be a bool .*got " + repr(value)[:3].replace("[", r"\[")):
        args(tmp_path, challenger_enabled=value)
    with pytest.raises(ValueError, match=r"^fp16 must be a bool"):
        args(tmp_path, fp16=value)


def test_number_fields_read_text(tmp_path) -> None:
    parsed = args(
        tmp_path,
        learning_rate="1e-4",
        per_device_train_batch_size="4",
        max_steps=" 7 ",
        challenger_alpha="2",
        challenger_top_k="3",
        challenger_start_epoch="0.5",
        challenger_adversarial_step_size="1e-3",
    )
    assert parsed.learning_rate == 1e-4 and isinstance(parsed.learning_rate, float)
    assert parsed.per_device_train_batch_size == 4 and parsed.max_steps == 7
    cfg = parsed.challenger_config()
    assert (cfg.alpha, cfg.top_k, cfg.start_epoch, cfg.adversarial_step_size) == (2.0, 3, 0.5, 1e-3)
    assert ChallengerConfig(top_k="2", alpha="0.25", start_step="3") == ChallengerConfig(top_k=2, alpha=0.25, start_step=3)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("learning_rate", "fast", r"^learning_rate must be a finite number; got 'fast'"),
        ("learning_rate", float("nan"), r"^learning_rate must be a finite number; got nan"),
        ("weight_decay", "inf", r"^weight_decay must be a finite number; got 'inf'"),
        ("max_grad_norm", True, r"^max_grad_norm must be a finite number; got the bool True"),
        ("max_steps", 3.0, r"^max_steps must be an integer; got 3\.0"),
        ("per_device_train_batch_size", "8.5", r"^per_device_train_batch_size must be an integer; got '8\.5'"),
        ("seed", False, r"^seed must be an integer; got the bool False"),
        ("challenger_top_k", "five", r"^challenger_top_k must be an integer; got 'five'"),
        ("challenger_alpha", "-inf", r"^challenger_alpha must be a finite number; got '-inf'"),
        ("challenger_epsilon", float("inf"), r"^challenger_epsilon must be a finite number; got inf"),
        ("challenger_start_epoch", "nan", r"^challenger_start_epoch must be a finite number; got 'nan'"),
        ("challenger_adversarial_epsilon", [0.1], r"^challenger_adversarial_epsilon must be a finite number; got \[0\.1\] of type list"),
    ],
)  # fmt: skip
def test_number_fields_refuse_bad_values_naming_the_field(tmp_path, field, value, message) -> None:
    with pytest.raises(ValueError, match=message):
        args(tmp_path, **{field: value})


def test_optional_fields_keep_none(tmp_path) -> None:
    parsed = args(tmp_path, challenger_start_epoch=None, challenger_adversarial_step_size=None, data_seed=None)
    assert parsed.challenger_start_epoch is None and parsed.data_seed is None


def test_parse_dict_of_text_values_as_a_recipe_gives_them(tmp_path) -> None:
    (parsed,) = HfArgumentParser(ChallengerTrainingArguments).parse_dict(
        {"output_dir": str(tmp_path), "report_to": "none", "challenger_enabled": "no", "learning_rate": "3e-4",
         "num_train_epochs": "2"}
    )  # fmt: skip
    assert parsed.challenger_enabled is False and parsed.learning_rate == 3e-4 and parsed.num_train_epochs == 2.0


def test_parsers_directly() -> None:
    assert parse_bool("x", "Yes") is True and parse_int("x", "12") == 12 and parse_float("x", "1e-4") == 1e-4
    assert parse_float("x", 3) == 3 and isinstance(parse_float("x", 3), int)
    assert parse_field("x", "1", int | None) == 1 and parse_field("x", None, float | None) is None
    assert parse_field("x", "untouched", str) == "untouched"
    with pytest.raises(ValueError, match=r"^x must be an integer; got None"):
        parse_field("x", None, int)


@pytest.mark.parametrize("epsilon", [float("inf"), float("nan"), -1e-6, 0.0, True, "1e-6"])
def test_lrp_epsilon_must_be_finite_and_positive(epsilon) -> None:
    with pytest.raises(ValueError, match=r"epsilon must be a finite number > 0"):
        EpsilonLRP(nn.Sequential(nn.Linear(3, 2)), epsilon=epsilon)


def test_lrp_with_a_finite_epsilon_still_explains() -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    relevance = EpsilonLRP(model, epsilon=1e-3).attribute(torch.ones(2, 3), torch.tensor([0, 1]))
    assert torch.isfinite(relevance).all() and relevance.abs().sum() > 0 and not math.isnan(relevance.sum().item())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"per_device_train_batch_size": 0}, r"^per_device_train_batch_size must be an integer >= 1; got 0"),
        ({"gradient_accumulation_steps": 0}, r"^gradient_accumulation_steps must be an integer >= 1; got 0"),
        ({"learning_rate": -1e-3}, r"^learning_rate must be >= 0; got -0\.001"),
        ({"weight_decay": -0.1}, r"^weight_decay must be >= 0"),
        ({"num_train_epochs": 0, "max_steps": -1}, r"^num_train_epochs=0 with max_steps=-1 trains nothing"),
    ],
)
def test_inherited_fields_that_failed_deep_inside_torch_or_trained_nothing(tmp_path, values, message) -> None:
    with pytest.raises(ValueError, match=message):
        args(tmp_path, **values)
    assert args(tmp_path, num_train_epochs=0, max_steps=3).max_steps == 3  # max_steps wins, as in Trainer
