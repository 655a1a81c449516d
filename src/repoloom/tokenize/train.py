"""``repoloom tokenizer train``: a byte-level BPE in the release's image.

HF ``tokenizers`` BPE trainer, the release pre-tokenizer (newlines, letters, punctuation, CJK
runs, single digits; ``release.release_pre_tokenizer``), all 256 bytes in the alphabet, then the
nine special tokens of the release appended after the BPE vocabulary (ids ``vocab_size`` ..
``vocab_size + 8``, in release order), the BOS post-processor and the instruct chat template.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from repoloom.tokenize import release
from repoloom.tokenize.readers import ReadStats, list_chunks, read_chunk


def iter_texts(corpora: Sequence[Any], max_docs: int | None, stats: ReadStats) -> Iterator[str]:
    n = 0
    for c in corpora:
        for chunk in list_chunks(c.name, c.kind, Path(c.path)):
            for doc in read_chunk(chunk, stats):
                if max_docs is not None and n >= max_docs:
                    return
                n += 1
                yield doc.text


def train_tokenizer(
    corpora: Sequence[Any],
    out: Path,
    *,
    vocab_size: int = 32000,
    min_frequency: int = 2,
    max_docs: int | None = None,
) -> dict[str, Any]:
    from tokenizers import AddedToken, Tokenizer, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size < len(alphabet) + 1:
        raise ValueError(f"--vocab-size must exceed the {len(alphabet)} byte tokens")
    tok = Tokenizer(BPE(fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = release.release_pre_tokenizer()
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        initial_alphabet=alphabet,
        special_tokens=[],
        show_progress=False,
    )
    stats = ReadStats()
    n_docs = 0

    def counted() -> Iterator[str]:
        nonlocal n_docs
        for text in iter_texts(corpora, max_docs, stats):
            n_docs += 1
            yield text

    tok.train_from_iterator(counted(), trainer=trainer)
    if n_docs == 0:
        raise ValueError("no documents to train on")
    bpe_size = tok.get_vocab_size(with_added_tokens=False)
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in release.SPECIAL_TOKENS]
    )
    release.finish_tokenizer(tok)
    release.save_tokenizer_dir(
        tok,
        out,
        pad_token=release.PAD,
        model_max_length=16384,
        extra={"source": "trained", "documents": n_docs, "bpe_vocab_size": bpe_size},
    )
    return {
        "documents": n_docs,
        "skipped": stats.skipped,
        "bpe_vocab_size": bpe_size,
        "tokens": tok.get_vocab_size(with_added_tokens=True),
        "special_ids": {t: tok.token_to_id(t) for t in release.SPECIAL_TOKENS},
        "out": str(out),
    }
