"""Corrupt files that parse, and errors from dependencies that did not name the file: each names it now."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch
from data_fixtures import LEADS, write_ptbxl
from datasets import Dataset
from test_trainer_models import DictDataset, TinyConvNet, image_data
from torch import nn

from hf_challenger.data import load_benchmark
from hf_challenger.data._common import CorruptCacheError
from hf_challenger.trainer import ChallengerTrainer
from hf_challenger.training_args import ChallengerTrainingArguments

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")  # wfdb on pandas 3


@pytest.fixture(scope="module")
def ptbxl_source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ptbxl_source")
    write_ptbxl(folder)
    return folder


@pytest.fixture
def ptbxl(ptbxl_source, tmp_path):
    """A fresh copy of the PTB-XL folder that a test may damage."""
    return shutil.copytree(ptbxl_source, tmp_path / "ptbxl")


def load(folder, cache):
    return load_benchmark("ptbxl", data_dir=folder, task="all", cache_dir=cache)


def test_a_dat_file_overwritten_with_random_bytes_fails_its_checksum(ptbxl, tmp_path) -> None:
    dat = ptbxl / "records100/00000/00005_lr.dat"
    dat.write_bytes(np.random.default_rng(0).bytes(dat.stat().st_size))
    with pytest.raises(ValueError, match=r"WFDB record .*00005_lr: the samples of lead\(s\) \['I', 'II', .*do not match the checksum"):
        load(ptbxl, tmp_path / "cache")


def test_a_dat_file_of_another_record_fails_its_checksum(ptbxl, tmp_path) -> None:
    folder = ptbxl / "records100/00000"
    shutil.copyfile(folder / "00002_lr.dat", folder / "00007_lr.dat")
    with pytest.raises(ValueError, match=r"00007_lr: .*belongs to another record"):
        load(ptbxl, tmp_path / "cache")


def test_missing_sample_markers_are_refused(ptbxl, tmp_path) -> None:
    import wfdb

    target = ptbxl / "records100/00000/00003_lr"
    record = wfdb.rdrecord(str(target), physical=False)
    digital = record.d_signal.copy()
    digital[10:20, 4] = -32768  # WFDB's missing-sample value of format 16
    wfdb.wrsamp(target.name, fs=100, units=record.units, sig_name=record.sig_name, d_signal=digital, fmt=["16"] * 12,
                adc_gain=record.adc_gain, baseline=record.baseline, write_dir=str(target.parent))  # fmt: skip
    with pytest.raises(ValueError, match=rf"00003_lr: lead\(s\) \['{LEADS[4]}'\] hold missing-sample markers"):
        load(ptbxl, tmp_path / "cache")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("ecg_id,", "id,", 1), r"ptbxl_database\.csv lacks column\(s\) \['ecg_id'\]"),
        (lambda t: "", r"ptbxl_database\.csv is not a readable CSV table \(EmptyDataError"),
        (lambda t: t + t.splitlines()[3] + "\n", r"ptbxl_database\.csv: ecg_id \[3\] appear\(s\) more than once"),
    ],
)
def test_database_table_faults_name_the_file(ptbxl, tmp_path, edit, message) -> None:
    table = ptbxl / "ptbxl_database.csv"
    table.write_text(edit(table.read_text()))
    with pytest.raises(ValueError, match=message):
        load(ptbxl, tmp_path / "cache")


@pytest.mark.parametrize("damage", ["truncate", "random", "empty", "state_json", "remove_split"])
def test_a_damaged_dataset_cache_names_the_folder_to_delete(ptbxl, tmp_path, damage) -> None:
    cache = tmp_path / "cache"
    load(ptbxl, cache)
    (folder,) = (cache / "ptbxl").iterdir()
    arrow = next((folder / "train").glob("*.arrow"))
    if damage == "truncate":
        os.truncate(arrow, arrow.stat().st_size // 2)
    elif damage == "random":
        arrow.write_bytes(os.urandom(arrow.stat().st_size))
    elif damage == "empty":
        arrow.write_bytes(b"")
    elif damage == "state_json":
        (folder / "train" / "state.json").write_text("{")
    else:
        shutil.rmtree(folder / "test")
    with pytest.raises(CorruptCacheError, match=rf"cached ptbxl dataset in {folder} .*Delete the folder {folder} and load again"):
        load(ptbxl, cache)
    shutil.rmtree(folder)  # what the message says to do
    assert len(load(ptbxl, cache)["train"]) > 0


def make_args(tmp_path, **overrides) -> ChallengerTrainingArguments:
    values = dict(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=4, report_to="none",
                  use_cpu=True, save_strategy="no", disable_tqdm=True, challenger_top_k=1)  # fmt: skip
    values.update(overrides)
    return ChallengerTrainingArguments(**values)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"challenger_rng_state\.pth cannot be read"),
        (b"\x80\x02garbage" * 8, r"challenger_rng_state\.pth cannot be read"),
        ("truncated", r"challenger_rng_state\.pth cannot be read"),
        ({"generator": torch.zeros(3, dtype=torch.uint8)}, r"challenger_rng_state\.pth holds a generator state this generator cannot take"),
        ({"seed": 3}, r"challenger_rng_state\.pth is not a Challenger RNG state"),
        (torch.zeros(3), r"challenger_rng_state\.pth is not a Challenger RNG state"),
    ],
)  # fmt: skip
def test_a_bad_rng_state_file_names_the_file_and_what_to_do(tmp_path, content, message) -> None:
    checkpoint = tmp_path / "checkpoint-1"
    checkpoint.mkdir()
    path = checkpoint / "challenger_rng_state.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "truncated":
        torch.save({"generator": torch.Generator().get_state()}, path)
        os.truncate(path, path.stat().st_size // 2)
    else:
        torch.save(content, path)
    trainer = ChallengerTrainer(model=TinyConvNet(), args=make_args(tmp_path), train_dataset=image_data(rows=8))
    with pytest.raises(ValueError, match=message + r".*(Resume from another checkpoint|delete the file)"):
        trainer._load_rng_state(str(checkpoint))


def test_a_zero_row_training_set_is_refused_naming_it(ptbxl, tmp_path) -> None:
    empty = DictDataset(pixel_values=torch.zeros(0, 3, 8, 8), labels=torch.zeros(0, dtype=torch.long))
    trainer = ChallengerTrainer(model=TinyConvNet(), args=make_args(tmp_path), train_dataset=empty)
    with pytest.raises(ValueError, match=r"the training set, DictDataset has 0 rows"):
        trainer.train()
    train = load(ptbxl, tmp_path / "cache")["train"].select([])
    trainer = ChallengerTrainer(model=nn.Linear(2, 2), args=make_args(tmp_path), train_dataset=train)
    with pytest.raises(ValueError, match=r"the training set, the 'ptbxl' dataset \(Dataset\) has 0 rows"):
        trainer.train()
    plain = Dataset.from_dict({"x": []})
    with pytest.raises(ValueError, match=r"the training set, Dataset has 0 rows"):
        ChallengerTrainer(model=nn.Linear(2, 2), args=make_args(tmp_path), train_dataset=plain).train()


def test_zero_fractions_say_so_instead_of_too_small(tmp_path) -> None:
    args = make_args(tmp_path, challenger_fraction_a=0.0, challenger_fraction_b=0.0, per_device_train_batch_size=8)
    trainer = ChallengerTrainer(model=TinyConvNet(), args=args, train_dataset=image_data(rows=8))
    with pytest.warns(UserWarning, match=r"fraction_a and fraction_b are both 0") as caught:
        trainer.train()
    assert not any("too small" in str(w.message) for w in caught)
