"""Byte-level BPE: trained with rustbpe, run with tiktoken (the nanochat recipe).

rustbpe learns the merges fast and in parallel; tiktoken encodes fast and in parallel.
The learned mergeable ranks plus our special tokens (appended after the merges) make a
`tiktoken.Encoding`, so ids 0..255 are the raw bytes and the specials are the last ids.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import rustbpe
import tiktoken

from trainer.data.manifest import HarnessError

BOS_TOKEN = "<|bos|>"
# Reserved now so that later harness formats (chat, tool use) can use them without a new
# tokenizer; only BOS appears in the data today.
SPECIAL_TOKENS = (BOS_TOKEN, "<|eos|>", "<|reserved_0|>", "<|reserved_1|>")
# GPT-4's split pattern with numbers split into groups of at most two digits (as nanochat):
# small vocabularies waste fewer ids on three-digit numbers.
SPLIT_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS) + 1  # the bytes, the specials and one merge


def check_vocab_size(vocab_size: int) -> None:
    if vocab_size < MIN_VOCAB_SIZE:
        raise HarnessError(
            f"vocab size {vocab_size} is too small: it must exceed 256 byte tokens + "
            f"{len(SPECIAL_TOKENS)} special tokens (at least {MIN_VOCAB_SIZE})"
        )
    if vocab_size > 2**32:
        raise HarnessError(f"vocab size {vocab_size} does not fit in uint32 token ids")


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> dict[str, Any]:
    """Learn `vocab_size - len(SPECIAL_TOKENS)` byte-level tokens; return the tokenizer data.

    The result is the plain dict stored as tokenizer.pkl: pattern, mergeable ranks
    (bytes -> id) and special tokens (name -> id).
    """
    check_vocab_size(vocab_size)
    n_learned = vocab_size - len(SPECIAL_TOKENS)
    bpe = rustbpe.Tokenizer()
    bpe.train_from_iterator(_non_empty(texts), n_learned, pattern=SPLIT_PATTERN)
    ranks = {bytes(token): int(rank) for token, rank in bpe.get_mergeable_ranks()}
    if len(ranks) < n_learned:
        raise HarnessError(
            f"the text has too few distinct byte pairs to learn {n_learned} tokens "
            f"(learned {len(ranks)}): use a vocab size of at most {len(ranks) + len(SPECIAL_TOKENS)} "
            "or add text"
        )
    specials = {name: n_learned + i for i, name in enumerate(SPECIAL_TOKENS)}
    return {"pattern": SPLIT_PATTERN, "mergeable_ranks": ranks, "special_tokens": specials}


def _non_empty(texts: Iterable[str]) -> Iterator[str]:
    return (text for text in texts if text)


class _PlainDataUnpickler(pickle.Unpickler):
    # tokenizer.pkl holds only dicts, lists, str, bytes and ints: refusing every global
    # means a tampered harness cannot run code when its tokenizer is loaded.
    def find_class(self, module: str, name: str) -> Any:
        raise HarnessError(
            f"tokenizer.pkl may hold only plain data, found a reference to {module}.{name}"
        )


def load_tokenizer_data(path: Path) -> dict[str, Any]:
    """The plain dict stored as a harness's tokenizer.pkl (see train_tokenizer)."""
    try:
        data = _PlainDataUnpickler(io.BytesIO(path.read_bytes())).load()
    except OSError as exc:
        raise HarnessError(f"cannot read tokenizer {path}: {exc.strerror or exc}") from None
    except (pickle.UnpicklingError, EOFError) as exc:
        raise HarnessError(f"{path} is not a valid tokenizer file: {exc}") from None
    if not isinstance(data, dict) or not {"pattern", "mergeable_ranks", "special_tokens"} <= set(
        data
    ):
        raise HarnessError(f"{path} lacks pattern / mergeable_ranks / special_tokens")
    return data


def encoding_from_data(data: dict[str, Any], name: str = "loopy") -> tiktoken.Encoding:
    return tiktoken.Encoding(
        name=name,
        pat_str=data["pattern"],
        mergeable_ranks=data["mergeable_ranks"],
        special_tokens=data["special_tokens"],
    )


def bos_token_id(data: dict[str, Any]) -> int:
    return int(data["special_tokens"][BOS_TOKEN])


def vocab_size_of(data: dict[str, Any]) -> int:
    return len(data["mergeable_ranks"]) + len(data["special_tokens"])


def token_byte_lengths(data: dict[str, Any]) -> np.ndarray:
    """int32 [vocab_size]: UTF-8 bytes of each token; 0 for specials, which val_bpb skips."""
    lengths = np.zeros(vocab_size_of(data), dtype=np.int32)
    for token, rank in data["mergeable_ranks"].items():
        lengths[rank] = len(token)
    return lengths
