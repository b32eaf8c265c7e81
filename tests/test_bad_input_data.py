"""Data that is not what it claims: label columns that are not numbers, text files that are not text,
benchmark folders that hold no document. Each is an error naming the column or the file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fixtures import write_bydate, write_reuters
from datasets import Dataset
from test_trainer_models import DictDataset, TinyConvNet, image_data

from hf_challenger.data import load_benchmark
from hf_challenger.data.textcheck import check_text_file
from hf_challenger.trainer import ChallengerTrainer
from hf_challenger.training_args import ChallengerTrainingArguments

pytestmark = pytest.mark.usefixtures("one_thread")


def trainer_on(tmp_path: Path, dataset) -> ChallengerTrainer:
    args = ChallengerTrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=4, report_to="none",
        use_cpu=True, save_strategy="no", disable_tqdm=True, challenger_top_k=1, challenger_num_features="4",
    )  # fmt: skip
    return ChallengerTrainer(model=TinyConvNet(), args=args, train_dataset=dataset)


def test_a_label_column_of_strings_is_refused_naming_column_and_type(tmp_path):
    images = image_data(rows=8)
    pixels = images.columns["pixel_values"].numpy()
    names = ["cat", "dog", "cat", "bird"] * 2
    dataset = Dataset.from_dict({"pixel_values": pixels, "labels": names}).with_format("torch")
    with pytest.raises(ValueError, match=r"label column 'labels' holds string values .*class_encode_column"):
        trainer_on(tmp_path, dataset).train()
    listed = Dataset.from_dict({"pixel_values": pixels, "labels": [[n] for n in names]}).with_format("torch")
    with pytest.raises(ValueError, match=r"label column 'labels' holds string values"):
        trainer_on(tmp_path, listed).train()

    class Rows(torch.utils.data.Dataset):  # a plain torch dataset: its first row is looked at
        def __len__(self):
            return 8

        def __getitem__(self, i):
            return {"pixel_values": images.columns["pixel_values"][i], "labels": names[i]}

    with pytest.raises(ValueError, match=r"label column 'labels' holds str values \(row 0: 'cat'\)"):
        trainer_on(tmp_path, Rows()).train()
    numeric = Dataset.from_dict({"pixel_values": pixels, "labels": images.columns["labels"].numpy()})
    trainer_on(tmp_path, numeric.with_format("torch")).train()  # integer labels train


def test_text_rule_refuses_nul_bytes_and_control_characters():
    assert check_text_file("caf\u00e9\tok\r\n".encode(), "a.txt") == "caf\u00e9\tok\r\n"
    with pytest.raises(ValueError, match=r"a.txt is not a text file: it holds NUL bytes \(the first at offset 3\)"):
        check_text_file(b"abc\x00def", "a.txt")
    with pytest.raises(ValueError, match=r"b.txt is not a text file: 10 of its 20 characters \(50%\) are control"):
        check_text_file(b"\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0fabcdefghij", "b.txt")
    check_text_file(b"\x1b" + b"a" * 40, "c.txt")  # one escape in a message: text


def test_newsgroups_files_of_random_bytes_are_refused_naming_the_file(tmp_path):
    write_bydate(tmp_path / "ng")
    bad = tmp_path / "ng" / "20news-bydate-train" / "sci.space" / "1001"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=rf"{bad} is not a text file: it holds NUL bytes"):
        load_benchmark("20newsgroups", data_dir=tmp_path / "ng", cache_dir=tmp_path / "c", validation_size=3)
    bad.write_bytes(bytes(range(1, 32)) * 10 + b"orbit")  # no NUL, mostly control characters
    with pytest.raises(ValueError, match=rf"{bad} is not a text file: \d+ of its \d+ characters"):
        load_benchmark("20newsgroups", data_dir=tmp_path / "ng", cache_dir=tmp_path / "c", validation_size=3)


def test_newsgroups_folders_without_messages_name_the_folder(tmp_path):
    for split in ("train", "test"):
        for group in ("alt.atheism", "sci.space"):
            (tmp_path / f"20news-bydate-{split}" / group).mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"20news-bydate-train holds no message file: its 2 newsgroup sub-fol"):
        load_benchmark("20newsgroups", data_dir=tmp_path, cache_dir=tmp_path / "c", validation_size=3)


def test_reuters_files_that_are_not_text_or_hold_no_document_are_named(tmp_path):
    write_reuters(tmp_path / "r")
    bad = tmp_path / "r" / "reut2-001.sgm"
    bad.write_bytes(os.urandom(4000).replace(b"\x00", b"\x01") + b"\x00")
    with pytest.raises(ValueError, match=rf"{bad} is not a text file"):
        load_benchmark("reuters", data_dir=tmp_path / "r", cache_dir=tmp_path / "c", validation_size=3)
    for path in (tmp_path / "r").glob("*.sgm"):
        path.write_text("no documents here, just text\n")
    with pytest.raises(ValueError, match=r"reut2-000.sgm, .*reut2-001.sgm\) hold 0 <REUTERS> document\(s\) and none"):
        load_benchmark("reuters", data_dir=tmp_path / "r", cache_dir=tmp_path / "c", validation_size=3)
