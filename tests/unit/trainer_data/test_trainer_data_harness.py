"""The pinned validation rows, token byte lengths and the demo harness."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.data.demo import build_demo_harness, split_source
from trainer.data.harness import Harness, HarnessError


def test_validation_rows_are_pinned_and_bos_aligned(tiny_harness, tools):
    first, second = Harness.load(tiny_harness.path), Harness.load(tiny_harness.path)
    rows = first.val_rows_array()
    assert rows.shape == (first.val_rows, first.seq_len + 1) and rows.dtype == np.int32
    assert np.array_equal(rows, second.val_rows_array())
    assert np.array_equal(first.val_inputs(), rows[:, :-1])
    assert np.array_equal(first.val_targets(), rows[:, 1:])
    assert (rows[:, 0] == first.bos_token_id).all()
    assert first.eval_tokens == first.val_rows * first.seq_len
    # packed with the training rule: whole held-out documents, then one cropped start
    train = {tuple(d.tolist()) for d in tools.train_documents(first)}
    for row in rows:
        segments = tools.split_at_bos(row, first.bos_token_id)
        assert sum(map(len, segments)) == len(row)
        assert all(tuple(s.tolist()) not in train for s in segments[:-1])


def test_token_bytes_are_utf8_lengths_and_zero_for_specials(tiny_harness):
    token_bytes = tiny_harness.token_bytes()
    encoding = tiny_harness.tokenizer()
    specials = set(tiny_harness.manifest.special_tokens.values())
    assert token_bytes.shape == (tiny_harness.vocab_size,) == (encoding.n_vocab,)
    for token in range(tiny_harness.vocab_size):
        expected = 0 if token in specials else len(encoding.decode_single_token_bytes(token))
        assert token_bytes[token] == expected
    assert token_bytes[:256].tolist() == [1] * 256
    # the byte count of a text is the sum over its tokens
    text = "Note 7: the river stone, the garden light."
    assert token_bytes[encoding.encode_ordinary(text)].sum() == len(text.encode())


def test_loading_something_that_is_not_a_harness(tmp_path):
    with pytest.raises(HarnessError, match="manifest.json not found"):
        Harness.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(HarnessError, match="not valid JSON"):
        Harness.load(tmp_path)


def test_demo_harness_is_deterministic(tmp_path):
    small = {"max_bytes": 150_000, "vocab_size": 512, "seq_len": 64, "val_tokens": 1024}
    first = build_demo_harness(tmp_path / "a", **small)
    second = build_demo_harness(tmp_path / "b", **small)
    assert first.harness_id == second.harness_id
    first.verify()
    assert "standard library" in first.manifest.description
    assert first.manifest.stats["train_tokens"] > 20_000
    text = first.tokenizer().decode(first.val_inputs()[0].tolist())
    assert text.startswith("<|bos|>")


def test_sources_are_cut_at_definitions_keeping_decorators():
    source = (
        "import os\n\n@cache\ndef f():\n    return 1\n\nclass A:\n    def g(self):\n        pass\n"
    )
    pieces = list(split_source(source))
    assert "".join(pieces) == source
    assert all(len(p) <= 1000 for p in pieces)
    big = "".join(f"def f{i}():\n    return {'x' * 300!r}\n\n" for i in range(10))
    docs = list(split_source(big))
    assert len(docs) > 3 and "".join(docs) == big
    assert all(doc.startswith("def ") for doc in docs)
