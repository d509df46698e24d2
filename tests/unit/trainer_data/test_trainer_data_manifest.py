"""The one manifest schema: what it accepts, and a specific reason for what it refuses."""

import json

import pytest

from trainer.data.harness import Harness, HarnessError
from trainer.data.manifest import Manifest, ManifestError, decode_manifest, read_manifest

GOOD = {
    "format": "loopy-harness/1",
    "harness_id": "h0123456789abcde",
    "vocab_size": 512,
    "bos_token_id": 508,
    "seq_len": 64,
    "val_rows": 4,
    "eval_tokens": 256,
    "time_budget_s": 5,
    "metric": "val_bpb",
    "description": "test harness",
    "token_dtype": "uint16",
    "train_shards": ["train_0000.bin"],
    "files": {"train_0000.bin": "a" * 64, "val_tokens.bin": "b" * 64},
}


def test_a_complete_manifest_decodes_from_text_and_from_an_object():
    manifest = decode_manifest(json.dumps(GOOD))
    assert isinstance(manifest, Manifest)
    assert manifest == decode_manifest(GOOD) == decode_manifest(json.dumps(GOOD).encode())
    assert manifest.time_budget_s == 5.0 and isinstance(manifest.time_budget_s, float)
    assert manifest.stats == {} and manifest.special_tokens == {}


def test_a_manifest_written_by_prepare_reads_back(tiny_harness):
    assert read_manifest(tiny_harness.path) == tiny_harness.manifest
    assert tiny_harness.manifest.special_tokens["<|bos|>"] == tiny_harness.bos_token_id


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"format": "other/2"}, "format", "not a loopy-harness/1 manifest"),
        ({"vocab_size": None}, "vocab_size", "Expected `int`, got `null`"),
        ({"vocab_size": True}, "vocab_size", "got `bool`"),
        ({"seq_len": 0}, "seq_len", ">= 1"),
        ({"time_budget_s": -1.0}, "time_budget_s", "> 0"),
        ({"time_budget_s": "5"}, "time_budget_s", "got `str`"),
        ({"token_dtype": "int64"}, "token_dtype", "Invalid enum value 'int64'"),
        ({"harness_id": "../etc"}, "harness_id", "matching regex"),
        ({"files": {"../train_0000.bin": "a" * 64}}, "files", "matching regex"),
        ({"files": {".hidden": "a" * 64}}, "files", "matching regex"),
        ({"files": {"train_0000.bin": "not-a-sha"}}, "files", "matching regex"),
        ({"train_shards": ["sub/train_0000.bin"]}, "train_shards", "matching regex"),
        ({"bos_token_id": 512}, "bos_token_id", "not below vocab_size 512"),
        ({"surprise": 1}, "surprise", "unknown field"),
    ],
)
def test_each_refusal_names_the_field_and_says_why(change, field, words):
    with pytest.raises(ManifestError) as err:
        decode_manifest(GOOD | change)
    assert err.value.field == field
    assert words in str(err.value) and "manifest.json" in str(err.value)


@pytest.mark.parametrize("field", sorted(set(GOOD) - {"format"}))
def test_every_field_is_required(field):
    manifest = {k: v for k, v in GOOD.items() if k != field}
    with pytest.raises(ManifestError, match=f"missing required field `{field}`") as err:
        decode_manifest(manifest)
    assert err.value.field == field


def test_files_that_are_not_a_manifest(tmp_path):
    with pytest.raises(ManifestError, match="manifest.json not found") as err:
        read_manifest(tmp_path)
    assert err.value.field is None
    for text, words in [("{not json", "not valid JSON"), ("[1, 2]", "must hold a JSON object")]:
        (tmp_path / "manifest.json").write_text(text)
        with pytest.raises(ManifestError, match=words):
            read_manifest(tmp_path)


def test_the_harness_reports_manifest_errors_as_harness_errors(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(GOOD | {"token_dtype": "float"}))
    with pytest.raises(HarnessError, match="token_dtype"):
        Harness.load(tmp_path)
