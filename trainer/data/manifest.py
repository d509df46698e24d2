"""manifest.json, the description of a harness on disk: one schema, checked in one place.

The trainer (`Harness.load`) and the service (registering a harness) both read a
manifest with `read_manifest` or `decode_manifest`, so they accept and refuse the same
files with the same reasons. A refusal is a `ManifestError` naming the field at fault.
This module imports nothing else of the trainer: every other data module may use it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

FORMAT = "loopy-harness/1"
MANIFEST = "manifest.json"

HarnessId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
# a plain file name inside the harness directory: no path, not hidden
FileName = Annotated[str, msgspec.Meta(pattern=r"^[^./\\\x00][^/\\\x00]{0,254}$")]
Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
Positive = Annotated[int, msgspec.Meta(gt=0)]
Count = Annotated[int, msgspec.Meta(ge=0)]


class HarnessError(ValueError):
    """A harness (or the input to build one) is missing, malformed or inconsistent."""


class ManifestError(HarnessError):
    """manifest.json is missing, unreadable or invalid; `field` names the culprit if one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Manifest(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    format: str  # FORMAT, checked before anything else
    harness_id: HarnessId  # first 16 hex of sha256 over `files` (Harness.verify checks it)
    vocab_size: Positive
    bos_token_id: Count
    seq_len: Positive
    val_rows: Count
    eval_tokens: Count  # scored validation positions
    time_budget_s: Annotated[float, msgspec.Meta(gt=0)]
    metric: str  # "val_bpb"
    description: str
    token_dtype: Literal["uint16", "uint32"]  # of the train shards
    train_shards: list[FileName]
    files: dict[FileName, Sha256]  # every file but the manifest -> its sha256
    special_tokens: dict[str, int] = {}  # name -> id, for readers; tokenizer.pkl is the truth
    stats: dict[str, Any] = {}  # what prepare() read and kept, for readers


def read_manifest(directory: str | os.PathLike[str]) -> Manifest:
    """The manifest of the harness in `directory`; ManifestError says what is wrong."""
    path = Path(directory) / MANIFEST
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{directory} is not a harness: {MANIFEST} not found") from None
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror or exc}") from None
    return decode_manifest(data)


def decode_manifest(data: bytes | str | dict[str, Any]) -> Manifest:
    """A manifest from its JSON text (or the decoded object), checked field by field."""
    if isinstance(data, dict):
        raw: Any = data
    else:
        try:
            raw = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise ManifestError(f"{MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{MANIFEST} must hold a JSON object")
    if raw.get("format") != FORMAT:
        raise ManifestError(
            f"{MANIFEST} is not a {FORMAT} manifest (format {raw.get('format')!r})", "format"
        )
    try:
        manifest = msgspec.convert(raw, Manifest)
    except msgspec.ValidationError as exc:
        raise _explained(exc) from None
    if manifest.bos_token_id >= manifest.vocab_size:
        raise ManifestError(
            f"{MANIFEST}: bos_token_id {manifest.bos_token_id} is not below vocab_size "
            f"{manifest.vocab_size}",
            "bos_token_id",
        )
    return manifest


def _explained(exc: msgspec.ValidationError) -> ManifestError:
    # msgspec says e.g. "Expected `int`, got `str` - at `$.seq_len`" or
    # "Object missing required field `files`": keep its words, name the field
    text = str(exc)
    named = re.search(r"field `([^`]+)`", text) or re.search(r"`\$\.([A-Za-z_]+)", text)
    field = named.group(1) if named else None
    return ManifestError(f"{MANIFEST} field {field!r}: {text}" if field else text, field)
