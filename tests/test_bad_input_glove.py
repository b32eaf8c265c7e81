"""GloVe files that parse but are wrong: every fault is an error naming the file, the line/row and the word."""

from __future__ import annotations

import numpy as np
import pytest
from gensim.models import KeyedVectors
from gensim.test.utils import datapath

from hf_challenger.data import Vocabulary, glove_embedding_matrix, load_glove

GOOD = "the 0.5 -0.25 1.0\nof 0.125 2.0 -1.5\nand 1.0 1.0 1.0\n"


def write(tmp_path, text: str | bytes):
    path = tmp_path / "glove.6B.3d.txt"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_a_good_file_reads_exactly(tmp_path) -> None:
    vectors = load_glove(write(tmp_path, GOOD))
    assert vectors.index_to_key == ["the", "of", "and"]
    np.testing.assert_array_equal(vectors["of"], np.array([0.125, 2.0, -1.5], dtype=np.float32))
    crlf = load_glove(write(tmp_path, GOOD.replace("\n", " \r\n").rstrip("\r\n")))  # CRLF, trailing space, no final newline
    np.testing.assert_array_equal(crlf.vectors, vectors.vectors)


def test_gensims_test_file_reads_as_gensim_reads_it() -> None:
    ours = load_glove(datapath("test_glove.txt"))
    theirs = KeyedVectors.load_word2vec_format(datapath("test_glove.txt"), binary=False, no_header=True)
    assert ours.index_to_key == theirs.index_to_key
    np.testing.assert_array_equal(ours.vectors, theirs.vectors)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"glove\.6B\.3d\.txt is empty: expected a GloVe text file"),
        (GOOD + "nan 1.0 nan 2.0\n", r"glove\.6B\.3d\.txt, line 4 \(word 'nan'\).*NaN or inf"),
        (GOOD.replace("-1.5", "inf"), r"glove\.6B\.3d\.txt, line 2 \(word 'of'\).*NaN or inf"),
        (GOOD.replace("2.0", "1e40"), r"line 2 \(word 'of'\).*beyond float32"),
        (GOOD + "the 1 2 3\n", r"line 4: the word 'the' appears again \(first on line 1\)"),
        (GOOD.replace("of 0.125 2.0 -1.5", "of 0.125"), r"line 2 \(word 'of'\): 1 values, expected 3 as on line 1"),
        (GOOD.replace("2.0", "two"), r"line 2 \(word 'of'\): 'two' is not a number"),
        ("the 1 2 3\n\nof 1 2 3\n", r"line 2: an empty line"),
        ("the 1 2 3\n 1 2 3\n", r"line 2: an empty word"),
        ("the\n", r"line 1: the word 'the' has no vector"),
        (b"the 1 2 3\n\xff\xfe 1 2 3\n", r"line 2: not UTF-8 text"),
    ],
)  # fmt: skip
def test_text_faults_name_file_line_and_word(tmp_path, text, message) -> None:
    with pytest.raises(ValueError, match=message):
        load_glove(write(tmp_path, text))


def test_many_non_finite_lines_are_counted(tmp_path) -> None:
    text = "".join(f"w{i} 1 nan 2\n" for i in range(8))
    with pytest.raises(ValueError, match=r"line 1 \(word 'w0'\).*line 5 \(word 'w4'\) and 3 more"):
        load_glove(write(tmp_path, text))


def _folder(tmp_path, words, vectors):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "data"
    folder.mkdir()
    np.save(folder / "glove_6B_3d_emb.npy", np.asarray(vectors))
    pq.write_table(pa.table({"index": list(words)}), folder / "glove_6B_index.parquet")
    return folder


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e300])
def test_array_folder_refuses_non_finite_rows_naming_file_row_and_word(tmp_path, bad) -> None:
    vectors = np.ones((3, 3))
    vectors[2, 1] = bad
    with pytest.raises(ValueError, match=r"glove_6B_3d_emb\.npy, row 2 \(word 'c'\).*NaN or inf"):
        load_glove(_folder(tmp_path, ["a", "b", "c"], vectors))


def test_given_keyed_vectors_are_checked_too() -> None:
    keyed = KeyedVectors(vector_size=2, dtype=np.float32)
    keyed.add_vectors(["a", "b"], np.array([[1.0, 2.0], [np.nan, 0.0]], dtype=np.float32))
    with pytest.raises(ValueError, match=r"the given KeyedVectors, row 1 \(word 'b'\)"):
        glove_embedding_matrix(Vocabulary(("<pad>", "<unk>", "a")), keyed)


def test_one_nan_no_longer_poisons_out_of_vocabulary_rows(tmp_path) -> None:
    """Before: the NaN entered table.std(), so <unk> and every OOV row became NaN."""
    path = write(tmp_path, GOOD + "bad 1 nan 1\n")
    with pytest.raises(ValueError, match="poison"):
        glove_embedding_matrix(Vocabulary(("<pad>", "<unk>", "the", "zzz")), path)
    matrix = glove_embedding_matrix(Vocabulary(("<pad>", "<unk>", "the", "zzz")), write(tmp_path, GOOD))
    assert np.isfinite(matrix).all()
