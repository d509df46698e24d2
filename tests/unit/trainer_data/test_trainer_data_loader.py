"""TrainLoader and the best-fit packer: BOS-aligned rows, no padding, seeded, same rule as the reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.data.loader import TrainLoader
from trainer.data.packing import BestFitPacker, TokenShards, pack_rows
from trainer.data.prepare import prepare


@pytest.fixture
def sharded_harness(tmp_path, documents, tools):
    """A harness whose training documents span several shards."""
    source = tools.write_jsonl(tmp_path / "d.jsonl", documents)
    return prepare([source], tmp_path / "h", shard_tokens=600, **tools.TINY)


def epochs(n_docs, seed):
    epoch = 0
    while True:
        yield from np.random.default_rng([seed, epoch]).permutation(n_docs).tolist()
        epoch += 1


def test_rows_are_whole_documents_then_one_cropped_start(sharded_harness, tools):
    harness = sharded_harness
    assert len(harness.train_shards) > 2
    docs = {tuple(d.tolist()) for d in tools.train_documents(harness)}
    bos = harness.bos_token_id
    loader = TrainLoader(harness.path, batch_size=4, seq_len=24, seed=3)
    # enough batches to run through the tiny corpus several times
    for _ in range(40):
        x, y = next(loader)
        assert x.dtype == torch.long and x.shape == y.shape == (4, 24)
        assert torch.equal(x[:, 1:], y[:, :-1])
        rows = torch.cat([x, y[:, -1:]], dim=1).numpy()
        assert (rows[:, 0] == bos).all()
        for row in rows:
            segments = tools.split_at_bos(row, bos)
            assert sum(map(len, segments)) == len(row)  # no padding: documents fill the row
            for segment in segments[:-1]:
                assert tuple(segment.tolist()) in docs
            last = tuple(segments[-1].tolist())
            assert any(doc[: len(last)] == last for doc in docs)
    assert loader.epoch >= 2


def test_same_rows_as_the_pure_python_reference(sharded_harness, tools):
    reference_packer = tools.load_reference_packer()
    docs = [d.tolist() for d in tools.train_documents(sharded_harness)]
    loader = TrainLoader(sharded_harness.path, batch_size=3, seq_len=20, seed=7, buffer_size=16)
    reference = reference_packer.ReferencePacker(docs, epochs(len(docs), 7), 21, 16)
    for _ in range(30):
        assert loader.next_rows().tolist() == reference.next_rows(3)


def test_seeded_and_reproducible(tiny_harness):
    def batches(seed, n=5):
        loader = TrainLoader(tiny_harness.path, batch_size=2, seq_len=16, seed=seed)
        return [next(loader) for _ in range(n)]

    first, again, other = batches(1), batches(1), batches(2)
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        for a, b in zip(first, again, strict=True)
    )
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other, strict=True))


def test_best_fit_prefers_the_longest_document_that_fits():
    lengths = [5, 3, 4, 2, 6]
    tokens = [np.array([0] + [10 * (i + 1)] * (n - 1)) for i, n in enumerate(lengths)]
    rows, used = pack_rows(tokens, n_rows=2, row_len=8)
    # row 1: 6 (longest <= 8), then 2; row 2: 5, then 3
    assert rows.tolist() == [
        [0, 50, 50, 50, 50, 50, 0, 40],
        [0, 10, 10, 10, 10, 0, 20, 20],
    ]
    assert sorted(used.tolist()) == [0, 1, 3, 4]


def test_when_nothing_fits_the_shortest_is_cropped():
    tokens = [np.array([0, 1, 1, 1, 1, 1, 1]), np.array([0, 2, 2, 2, 2, 2])]  # 7 and 6 tokens
    rows, used = pack_rows(tokens, n_rows=1, row_len=4)
    assert rows.tolist() == [[0, 2, 2, 2]]
    assert used.tolist() == [1]


def test_a_finite_stream_drops_the_unfinished_row():
    tokens = [np.array([0, 1, 1]), np.array([0, 2, 2])]
    rows, used = pack_rows(tokens, n_rows=5, row_len=4)
    assert rows.tolist() == [[0, 1, 1, 0]]  # row 2 would be [0, 2, 2] and is dropped
    assert used.tolist() == [0, 1]


def test_gather_reads_across_shards():
    shard_a = (np.array([9, 1, 2, 9, 3], dtype=np.uint16), np.array([0, 3, 5]))
    shard_b = (np.array([9, 4, 4, 4], dtype=np.uint16), np.array([0, 4]))
    store = TokenShards([shard_a, shard_b])
    packer = BestFitPacker(store.doc_lengths, iter([np.array([2, 0, 1])]), row_len=6)
    plan = packer.plan(1)
    assert store.gather(plan, 6).tolist() == [[9, 4, 4, 4, 9, 3]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batches_match_cpu_batches(tiny_harness):
    cpu = TrainLoader(tiny_harness.path, batch_size=4, seq_len=16, seed=0)
    gpu = TrainLoader(tiny_harness.path, batch_size=4, seq_len=16, seed=0, device="cuda")
    for _ in range(5):
        (xc, yc), (xg, yg) = next(cpu), next(gpu)
        assert xg.is_cuda and xg.dtype == torch.long
        assert torch.equal(xc, xg.cpu()) and torch.equal(yc, yg.cpu())
