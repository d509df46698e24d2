"""prepare(): formats, determinism, manifest integrity and clear errors for bad input."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from trainer.data.harness import Harness, HarnessError, compute_harness_id
from trainer.data.prepare import prepare


def test_each_format_gives_a_verified_harness(tmp_path, documents, tools):
    sources = {
        "jsonl": tools.write_jsonl(tmp_path / "d.jsonl", documents),
        "parquet": tools.write_parquet(tmp_path / "d.parquet", documents),
        "txt": tools.write_txt(tmp_path / "d.txt", documents),
    }
    for name, source in sources.items():
        harness = prepare([source], tmp_path / name, **tools.TINY)
        harness.verify()
        manifest = harness.manifest
        assert manifest.vocab_size == 320 and manifest.seq_len == 32
        assert manifest.val_rows == 3 and manifest.eval_tokens == 96
        assert harness.bos_token_id == manifest.special_tokens["<|bos|>"]
        assert compute_harness_id(manifest.files) == harness.harness_id
        stats = manifest.stats
        assert stats["train_documents"] > 0 and stats["val_documents"] > 0
        if name != "txt":  # txt joins paragraphs into bigger documents
            assert stats["documents_read"] == len(documents)
            assert stats["train_documents"] + stats["val_documents"] == len(documents)
        # BOS marks document starts and nothing else
        for doc in tools.train_documents(harness):
            assert doc[0] == harness.bos_token_id
            assert np.count_nonzero(doc == harness.bos_token_id) == 1
            assert doc.max() < harness.vocab_size


def test_same_input_gives_the_same_id_and_files(tmp_path, documents, tools):
    source = tools.write_parquet(tmp_path / "d.parquet", documents)
    first = prepare([source], tmp_path / "a", **tools.TINY)
    second = prepare([source], tmp_path / "b", **{**tools.TINY, "threads": 1})
    assert first.harness_id == second.harness_id
    assert first.manifest.files == second.manifest.files
    changed = prepare([source], tmp_path / "c", **{**tools.TINY, "seq_len": 16})
    assert changed.harness_id != first.harness_id
    budget = prepare([source], tmp_path / "d", **tools.TINY, time_budget_s=60)
    assert budget.harness_id != first.harness_id


def test_directories_are_read_recursively_in_sorted_order(tmp_path, documents, tools):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    tools.write_jsonl(corpus / "b.jsonl", documents[:80])
    tools.write_parquet(corpus / "sub" / "a.parquet", documents[80:])
    (corpus / "notes.md").write_text("ignored: not a source type")
    harness = prepare([corpus], tmp_path / "h", **tools.TINY)
    assert harness.manifest.stats["documents_read"] == len(documents)


def test_text_that_spells_a_special_token_is_ordinary_text(tmp_path, documents, tools):
    docs = documents + ["this line says <|bos|> and <|eos|> as plain text"] * 1
    harness = prepare([tools.write_jsonl(tmp_path / "d.jsonl", docs)], tmp_path / "h", **tools.TINY)
    all_docs = tools.train_documents(harness)
    assert all(np.count_nonzero(d == harness.bos_token_id) == 1 for d in all_docs)
    specials = set(harness.manifest.special_tokens.values())
    assert not specials & set(np.concatenate(all_docs)[1:].tolist()) - {harness.bos_token_id}


def test_duplicates_are_dropped_so_validation_never_leaks(tmp_path, documents, tools):
    harness = prepare(
        [tools.write_jsonl(tmp_path / "d.jsonl", documents + documents[:40])],
        tmp_path / "h",
        **tools.TINY,
    )
    stats = harness.manifest.stats
    assert stats["duplicates_dropped"] == 40
    train = {tuple(d.tolist()) for d in tools.train_documents(harness)}
    rows = harness.val_rows_array()
    for row in rows:
        for segment in tools.split_at_bos(row, harness.bos_token_id)[:-1]:  # whole documents
            assert tuple(segment.tolist()) not in train


def test_verify_names_a_changed_file(tiny_harness):
    path = tiny_harness.path / "val_tokens.bin"
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(HarnessError, match="val_tokens.bin does not match its sha256"):
        Harness.load(tiny_harness.path).verify()
    # the train view can still be checked on its own
    Harness.load(tiny_harness.path).verify(tiny_harness.train_files())


def test_verify_rejects_a_manifest_edited_by_hand(tiny_harness):
    manifest_path = tiny_harness.path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["time_budget_s"] = 1.0
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(HarnessError, match="time_budget_s"):
        Harness.load(tiny_harness.path).verify()


def test_a_tokenizer_file_with_code_in_it_is_refused(tiny_harness):
    (tiny_harness.path / "tokenizer.pkl").write_bytes(pickle.dumps({"pattern": os.system}))
    with pytest.raises(HarnessError, match="only plain data"):
        Harness.load(tiny_harness.path).tokenizer()


def _bad_inputs(tmp_path, tools):
    """(sources, settings, message) for every bad input we promise a clear error for."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    blank = tmp_path / "blank.txt"
    blank.write_text("   \n\n  \n")
    no_text = tmp_path / "no_text.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"body": ["a", "b"]}), no_text)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"this is not parquet at all")
    not_utf8 = tmp_path / "latin1.txt"
    not_utf8.write_bytes("caf\xe9 au lait".encode("latin-1"))
    missing_field = tmp_path / "missing.jsonl"
    missing_field.write_text('{"text": "fine"}\n{"body": "no text here"}\n')
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": "fine"}\n{"text": \n')
    good = tools.write_jsonl(tmp_path / "good.jsonl", tools.make_documents(40))
    unknown = tmp_path / "data.csv"
    unknown.write_text("text\nhello\n")
    return [
        ([empty], {}, "no documents found"),
        ([blank], {}, "no documents found"),
        ([no_text], {}, "no_text.parquet: parquet file has no 'text' column"),
        ([corrupt], {}, "corrupt.parquet: not a readable parquet file"),
        ([not_utf8], {}, "latin1.txt: not UTF-8 text"),
        ([missing_field], {}, "missing.jsonl:2: line has no string field 'text'"),
        ([bad_json], {}, "bad.jsonl:2: invalid JSON"),
        ([tmp_path / "nothere.jsonl"], {}, "nothere.jsonl: no such file or directory"),
        ([unknown], {}, "data.csv: unsupported file type '.csv'"),
        ([good], {"vocab_size": 260}, "vocab size 260 is too small"),
        ([good], {"vocab_size": 100_000}, "too few distinct byte pairs"),
        ([good], {"val_tokens": 100_000}, "validation needs"),
    ]


def test_bad_input_is_a_clear_harness_error(tmp_path, tools):
    for index, (sources, settings, message) in enumerate(_bad_inputs(tmp_path, tools)):
        out = tmp_path / f"out{index}"
        with pytest.raises(HarnessError, match=message.replace("(", r"\(").replace(")", r"\)")):
            prepare(sources, out, **{**tools.TINY, **settings})
        assert not out.exists()  # nothing half-written is left behind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_an_existing_directory_is_never_overwritten(tiny_harness, tmp_path, documents, tools):
    before = tiny_harness.manifest.files
    with pytest.raises(HarnessError, match="already exists"):
        prepare(
            [tools.write_jsonl(tmp_path / "x.jsonl", documents[:50])],
            tiny_harness.path,
            **tools.TINY,
        )
    assert Harness.load(tiny_harness.path).manifest.files == before


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", "trainer.data.cli", "data", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_cli_reports_bad_input_in_one_line_with_exit_code_2(tmp_path, tools):
    cases = _bad_inputs(tmp_path, tools)
    # one CLI run per kind of problem keeps the subprocess count low
    for sources, settings, message in [cases[2], cases[5], cases[9]]:
        flags = []
        for key, value in settings.items():
            flags += [f"--{key.replace('_', '-')}", value]
        result = _cli(
            "prepare", "--source", *sources, "--out", tmp_path / "o", *flags, cwd=tools.REPO
        )
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
        assert "Traceback" not in result.stderr


def test_cli_prepare_and_verify(tmp_path, documents, tools):
    source = tools.write_txt(tmp_path / "d.txt", documents)
    result = _cli(
        "prepare", "--source", source, "--out", tmp_path / "h", "--vocab-size", 300,
        "--seq-len", 32, "--val-tokens", 64, "--json", cwd=tools.REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["vocab_size"] == 300 and summary["val_rows"] == 2
    verified = _cli("verify", tmp_path / "h", "--json", cwd=tools.REPO)
    assert json.loads(verified.stdout) == {"harness_id": summary["harness_id"], "verified": True}
    (tmp_path / "h" / "token_bytes.bin").write_bytes(b"\0" * 8)
    broken = _cli("verify", tmp_path / "h", cwd=tools.REPO)
    assert broken.returncode == 2 and "token_bytes.bin does not match" in broken.stderr
