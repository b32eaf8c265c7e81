"""load_benchmark dispatch and option checks, make_tiny, stratified splits, metadata, the conversion cache."""

from __future__ import annotations

import numpy as np
import pytest
from data_fixtures import write_bydate, write_mnist
from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value

from hf_challenger.data import BENCHMARKS, benchmark_options, get_metadata, load_benchmark, make_tiny
from hf_challenger.data._common import multilabel_strata, stratified_split
from hf_challenger.data.pretrained import text_encoding


def test_unknown_benchmark_and_option_are_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match=r"unknown benchmark 'imagenet'; allowed: 'mnist', 'cifar10', 'reuters', "
                                         r"'20newsgroups', 'ptbxl'"):
        load_benchmark("imagenet")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['img_size'\] for benchmark 'mnist'; allowed: "
                                         r"cache_dir, image_processor, image_size, normalization, seed, source, validation_size"):
        load_benchmark("mnist", img_size=32)
    assert BENCHMARKS == ("mnist", "cifar10", "reuters", "20newsgroups", "ptbxl")
    assert benchmark_options("ptbxl")["sampling_rate"] == 100
    # None: 400 tokens for the word vocabulary, the tokenizer's model_max_length with a tokenizer
    assert benchmark_options("reuters")["max_length"] is None and text_encoding(None, None, None, None).max_length == 400


def _single(labels, names=None):
    names = names or [f"c{i}" for i in range(max(labels) + 1)]
    features = Features({"x": Value("int64"), "labels": ClassLabel(names=names)})
    return Dataset.from_dict({"x": list(range(len(labels))), "labels": labels}, features=features)


def test_make_tiny_single_label_is_stratified_and_seeded():
    labels = [i % 4 for i in range(40)]
    data = _single(labels)
    tiny = make_tiny(data, per_class=3, seed=7)
    assert len(tiny) == 12 and np.bincount(tiny["labels"]).tolist() == [3, 3, 3, 3]
    assert list(tiny["x"]) == sorted(tiny["x"])  # original order kept
    assert list(make_tiny(data, 3, 7)["x"]) == list(tiny["x"])
    assert any(list(make_tiny(data, 3, seed)["x"]) != list(tiny["x"]) for seed in range(8, 12))


def test_make_tiny_reduces_only_train_of_a_datasetdict():
    dsd = DatasetDict({"train": _single([i % 2 for i in range(20)]), "test": _single([0, 1, 0, 1])})
    tiny = make_tiny(dsd, per_class=2, seed=0)
    assert len(tiny["train"]) == 4 and len(tiny["test"]) == 4


def test_make_tiny_too_few_examples():
    data = _single([0] * 5 + [1] * 2 + [0] * 3, names=["cat", "dog", "eel"])
    with pytest.raises(ValueError, match=r"'dog' has 2, 'eel' has 0"):
        make_tiny(data, per_class=3, seed=0)
    with pytest.warns(UserWarning, match="'dog' has 2"):
        tiny = make_tiny(data, per_class=3, seed=0, strict=False)
    assert np.bincount(tiny["labels"]).tolist() == [3, 2]
    with pytest.raises(ValueError, match="per_class=0"):
        make_tiny(data, per_class=0, seed=0)


def test_make_tiny_multi_label_fills_rarest_classes_first():
    rng = np.random.default_rng(0)
    hot = (rng.random((200, 5)) < np.array([0.5, 0.3, 0.1, 0.05, 0.4])).astype(np.float32)
    hot[:3] = 0  # rows without labels
    features = Features({"labels": List(Value("float32"), length=5)})
    data = Dataset.from_dict({"labels": hot}, features=features)
    tiny = make_tiny(data, per_class=4, seed=1)
    picked = np.asarray(tiny.with_format("numpy")["labels"][:])
    counts = picked.sum(axis=0)
    assert np.all(counts >= 4) and np.all(picked.any(axis=1))
    assert len(tiny) <= 5 * 4
    again = make_tiny(data, per_class=4, seed=1).with_format("numpy")["labels"][:]
    np.testing.assert_array_equal(again, picked)
    with pytest.raises(ValueError, match="too few examples"):
        make_tiny(data, per_class=50, seed=0)


def test_make_tiny_multi_label_counts_a_row_for_each_of_its_classes():
    # class 0 is rare and always comes with class 1: filling class 0 first also fills class 1
    hot = np.array([[1, 1]] * 2 + [[0, 1]] * 8, dtype=np.float32)
    features = Features({"labels": List(Value("float32"), length=2)})
    tiny = make_tiny(Dataset.from_dict({"labels": hot}, features=features), per_class=2, seed=0)
    np.testing.assert_array_equal(tiny.with_format("numpy")["labels"][:], [[1, 1], [1, 1]])


def test_stratified_split_sizes_and_keep_one_rule():
    keys = np.array([0] * 50 + [1] * 30 + [2] * 19 + [3])
    kept, held = stratified_split(keys, 10, seed=0)
    assert len(held) == 10 and len(kept) == 90 and not set(kept) & set(held)
    assert np.bincount(keys[held], minlength=4).tolist() == [5, 3, 2, 0]  # class 3 (one member) stays
    np.testing.assert_array_equal(stratified_split(keys, 10, seed=0)[1], held)
    assert not np.array_equal(stratified_split(keys, 10, seed=1)[1], held)
    hot = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 0, 1]])
    assert multilabel_strata(hot).tolist() == [1, 0, -1, 2]


def test_metadata_is_required_and_travels(tmp_path):
    with pytest.raises(ValueError, match="not produced by hf_challenger.data.load_benchmark"):
        get_metadata(_single([0, 1]))
    write_mnist(tmp_path / "m")
    dsd = load_benchmark("mnist", data_dir=tmp_path / "m", validation_size=10, cache_dir=tmp_path / "c")
    subset = dsd["train"].select([0, 1]).map(lambda row: row)
    assert get_metadata(subset)["label_names"] == [str(d) for d in range(10)]
    assert get_metadata(subset)["problem_type"] == "single_label_classification"


def test_text_conversion_is_cached_and_keyed_on_files_and_options(tmp_path, monkeypatch):
    write_bydate(tmp_path / "ng")
    options = dict(data_dir=tmp_path / "ng", validation_size=3, min_frequency=1, cache_dir=tmp_path / "c")
    first = load_benchmark("20newsgroups", **options)
    monkeypatch.setattr("hf_challenger.data.text.tokenize", lambda text: pytest.fail("tokenised again"))
    second = load_benchmark("20newsgroups", **options)
    assert second["train"].cache_files == first["train"].cache_files
    assert second["train"]["input_ids"][:] == first["train"]["input_ids"][:]
    with pytest.raises(pytest.fail.Exception, match="tokenised again"):
        load_benchmark("20newsgroups", **{**options, "max_length": 50})
    (tmp_path / "ng" / "20news-bydate-test" / "sci.space" / "1000").write_text("Subject: x\n\nchanged\n")
    with pytest.raises(pytest.fail.Exception, match="tokenised again"):
        load_benchmark("20newsgroups", **options)
    assert not list((tmp_path / "c" / "20newsgroups").glob("*.partial-*"))  # failed builds leave nothing


def test_idx_cache_is_rebuilt_when_a_file_changes(tmp_path):
    write_mnist(tmp_path / "m", seed=0)
    first = load_benchmark("mnist", data_dir=tmp_path / "m", validation_size=10, cache_dir=tmp_path / "c")
    write_mnist(tmp_path / "m", seed=1)
    second = load_benchmark("mnist", data_dir=tmp_path / "m", validation_size=10, cache_dir=tmp_path / "c")
    a = first["test"].with_format("numpy")["pixel_values"][:]
    b = second["test"].with_format("numpy")["pixel_values"][:]
    assert not np.array_equal(a, b)
