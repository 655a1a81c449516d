"""Facts of the released DeepSeek-Coder tokenizer that every repoloom tokenizer shares.

The special tokens, their release ids, the pre-tokenizer (the release's ``tokenizer.json``
sequence: newline, letters, punctuation, CJK runs, single digits, then byte level) and the
instruct chat template. Both ``repoloom tokenizer import`` (the release vocabulary) and
``repoloom tokenizer train`` (a new vocabulary) build on these, so FIM and chat code never
depends on which of the two made a tokenizer directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from repoloom.prompts import (  # noqa: F401  (re-exported: the release's facts live together)
    ASSISTANT,
    BOS,
    CHAT_TEMPLATE,
    DEFAULT_SYSTEM_PROMPT,
    EOS,
    EOT,
    FIM_BEGIN,
    FIM_END,
    FIM_HOLE,
    PAD,
    RELEASE_SPECIAL_IDS,
    SPECIAL_TOKENS,
    USER,
)

#: The release's pre-tokenizer splits (tokenizer.json of deepseek-coder-*-instruct; llama.cpp
#: names this set ``deepseek-coder``). ``Digits(individual_digits=True)`` splits every char for
#: which Rust's ``char::is_numeric`` holds (Unicode Nd, Nl and No, so ``½`` too).
CJK_RUN = "[一-龥ࠀ-一가-퟿]+"
PRE_TOKENIZER_SPLITS: tuple[str, ...] = ("[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", CJK_RUN)


def release_pre_tokenizer() -> Any:
    """The release's pre-tokenizer as a ``tokenizers`` object."""
    from tokenizers import Regex, pre_tokenizers

    splits = [pre_tokenizers.Split(Regex(p), behavior="isolated") for p in PRE_TOKENIZER_SPLITS]
    return pre_tokenizers.Sequence(
        [
            *splits,
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]
    )


def finish_tokenizer(tokenizer: Any) -> Any:
    """Set decoder and BOS post-processor (the release adds BOS, never EOS)."""
    from tokenizers import decoders, processors

    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS}:0 $A:0",
        pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1",
        special_tokens=[(BOS, bos_id)],
    )
    return tokenizer


def save_tokenizer_dir(
    tokenizer: Any,
    out: Path,
    *,
    pad_token: str,
    model_max_length: int,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``tokenizer.json``, ``tokenizer_config.json`` and ``special_tokens_map.json``.

    ``tokenizer_class`` is ``PreTrainedTokenizerFast`` so that transformers (4.x and 5.x) loads
    ``tokenizer.json`` as written instead of rebuilding a Llama pre-tokenizer.
    """
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out / "tokenizer.json"))
    others = [t for t in SPECIAL_TOKENS if t not in (BOS, EOS, pad_token)]
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": pad_token,
        "additional_special_tokens": others,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
        "chat_template": CHAT_TEMPLATE,
    }
    if extra:
        config["repoloom"] = extra
    (out / "tokenizer_config.json").write_text(
        json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    special_map = {
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": pad_token,
        "additional_special_tokens": others,
    }
    (out / "special_tokens_map.json").write_text(
        json.dumps(special_map, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return out
