"""Turn the released DeepSeek-Coder vocabulary stored in a GGUF file into an HF tokenizer directory.

Why not ``AutoTokenizer.from_pretrained(dir, gguf_file=...)``? transformers' GGUF loader
(checked with 5.23.0) knows no split regex for ``tokenizer.ggml.pre == "deepseek-coder"`` and
falls back to GPT-2's ``ByteLevel(use_regex=True)`` pattern, whose `` ?\\p{N}+`` keeps a space in
front of a number: ``" ½"`` becomes one pre-token ``Ġ½`` and BPE merges ``Ġ`` + ``Â`` (id 2688)
+ ``½`` (121), while the release splits the space off (``\\p{N}`` is its own pre-token: 207,
19192). ASCII digits happen to survive because the vocabulary has no ``Ġ<digit>`` merges. The
loader also re-spells every token in the byte alphabet, so the control tokens BOS/EOS (which
contain U+FF5C and U+2581) no longer match and get appended as *new* ids 32257/32258, and the
user-defined FIM/chat tokens are dropped instead of registered. docs/tokenize.md has the
reproduction. Here we build the release pipeline ourselves: the tokens as stored (byte-level
spelling), the stored merges, the release pre-tokenizer, and the control/user-defined tokens as
added tokens with their stored ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repoloom.tokenize import release

# llama.cpp token types
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


class GGUFImportError(ValueError):
    """The file is not a GGUF with a DeepSeek-Coder byte-level BPE vocabulary."""


@dataclass
class GGUFVocab:
    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    pre: str | None
    model: str | None
    context_length: int | None
    vocab_size: int | None


def read_gguf_vocab(path: Path) -> GGUFVocab:
    """Read the tokenizer metadata of a GGUF file (no tensors are loaded)."""
    from gguf import GGUFReader

    if not path.is_file():
        raise GGUFImportError(f"{path}: no such file")
    try:
        reader = GGUFReader(str(path), "r")
    except Exception as exc:  # the gguf package raises ValueError/struct errors on bad files
        raise GGUFImportError(f"{path}: not a readable GGUF file ({exc})") from exc

    def get(key: str) -> Any:
        field = reader.fields.get(key)
        return None if field is None else field.contents()

    tokens = get("tokenizer.ggml.tokens")
    if not tokens:
        raise GGUFImportError(f"{path}: no tokenizer.ggml.tokens in the file")
    arch = get("general.architecture")
    return GGUFVocab(
        tokens=list(tokens),
        token_types=list(get("tokenizer.ggml.token_type") or [NORMAL] * len(tokens)),
        merges=list(get("tokenizer.ggml.merges") or []),
        bos_id=get("tokenizer.ggml.bos_token_id"),
        eos_id=get("tokenizer.ggml.eos_token_id"),
        pad_id=get("tokenizer.ggml.padding_token_id"),
        pre=get("tokenizer.ggml.pre"),
        model=get("tokenizer.ggml.model"),
        context_length=get(f"{arch}.context_length") if arch else None,
        vocab_size=get(f"{arch}.vocab_size") if arch else None,
    )


def build_tokenizer(vocab: GGUFVocab) -> Any:
    """The release tokenizer as a ``tokenizers.Tokenizer``."""
    from tokenizers import AddedToken, Tokenizer
    from tokenizers.models import BPE

    if vocab.model != "gpt2":
        raise GGUFImportError(
            f"tokenizer.ggml.model is {vocab.model!r}; only byte-level BPE ('gpt2') is supported"
        )
    if vocab.pre != "deepseek-coder":
        raise GGUFImportError(
            f"tokenizer.ggml.pre is {vocab.pre!r}; this importer implements the "
            "'deepseek-coder' pre-tokenizer only"
        )
    # Placeholders llama.cpp pads the vocabulary with up to the embedding size: not tokens.
    n = len(vocab.tokens)
    while n and vocab.tokens[n - 1].startswith("[PAD") and vocab.token_types[n - 1] != NORMAL:
        n -= 1
    ids = {tok: i for i, tok in enumerate(vocab.tokens[:n])}
    merges = []
    for m in vocab.merges:
        left, sep, right = m.partition(" ")
        if not sep:
            raise GGUFImportError(f"malformed merge {m!r}")
        merges.append((left, right))
    tok = Tokenizer(BPE(vocab=ids, merges=merges, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = release.release_pre_tokenizer()
    added = []
    for i in range(n):
        ttype = vocab.token_types[i]
        if ttype == CONTROL or (
            ttype == USER_DEFINED and vocab.tokens[i] in release.SPECIAL_TOKENS
        ):
            added.append(AddedToken(vocab.tokens[i], special=True, normalized=False))
        elif ttype == USER_DEFINED:
            # 32000-32012: bytes that never occur in UTF-8 (0xC0, 0xC1, 0xF5..0xFF) spelled in the
            # byte alphabet; the release matches them as plain added tokens (so a literal "ü" in
            # the text is id 32009, as the reference vectors show).
            added.append(AddedToken(vocab.tokens[i], special=False, normalized=True))
    # Added in id order; every one is already in the model vocabulary, so ids stay as stored.
    tok.add_special_tokens([a for a in added if a.special])
    tok.add_tokens([a for a in added if not a.special])
    for a in added:
        if tok.token_to_id(a.content) != ids[a.content]:
            raise GGUFImportError(f"added token {a.content!r} lost its id {ids[a.content]}")
    release.finish_tokenizer(tok)
    return tok


def import_gguf(gguf_path: Path, out: Path) -> dict[str, Any]:
    """Write an HF tokenizer directory for the vocabulary in ``gguf_path``; return a summary."""
    vocab = read_gguf_vocab(gguf_path)
    tok = build_tokenizer(vocab)
    for name, want in release.RELEASE_SPECIAL_IDS.items():
        got = tok.token_to_id(name)
        if got != want:
            raise GGUFImportError(f"special token {name!r} has id {got}, the release has {want}")
    pad = vocab.tokens[vocab.pad_id] if vocab.pad_id is not None else release.EOS
    release.save_tokenizer_dir(
        tok,
        out,
        pad_token=pad,
        model_max_length=int(vocab.context_length or 16384),
        extra={
            "source": "gguf",
            "gguf_file": gguf_path.name,
            "model_vocab_size": int(vocab.vocab_size or len(vocab.tokens)),
        },
    )
    return {
        "tokens": tok.get_vocab_size(with_added_tokens=True),
        "merges": len(vocab.merges),
        "model_vocab_size": int(vocab.vocab_size or len(vocab.tokens)),
        "special_ids": {t: tok.token_to_id(t) for t in release.SPECIAL_TOKENS},
        "out": str(out),
    }
