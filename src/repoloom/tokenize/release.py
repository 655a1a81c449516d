"""Facts of the released DeepSeek-Coder tokenizer that every repoloom tokenizer shares.

The special tokens, their release ids, the pre-tokenizer (the release's ``tokenizer.json``
sequence: newline, letters, punctuation, CJK runs, single digits, then byte level) and the
instruct chat template. Both ``repoloom tokenizer import`` (the release vocabulary) and
``repoloom tokenizer train`` (a new vocabulary) build on these, so FIM and chat code never
depends on which of the two made a tokenizer directory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
    tokenizer_class: str = "PreTrainedTokenizerFast",
    bos_token: str = BOS,
    eos_token: str = EOS,
    special_tokens: Sequence[str] = SPECIAL_TOKENS,
    chat_template: str | None = CHAT_TEMPLATE,
) -> Path:
    """Write ``tokenizer.json``, ``tokenizer_config.json`` and ``special_tokens_map.json``.

    ``tokenizer_class`` is ``PreTrainedTokenizerFast`` by default so that transformers (4.x and
    5.x) loads ``tokenizer.json`` as written instead of rebuilding a Llama pre-tokenizer. With
    ``LlamaTokenizerFast`` (the released checkpoints' class, see ``save_portable_tokenizer``)
    ``unk_token`` is written as null and ``legacy`` as true, as the release does: transformers 4
    would otherwise add an ``<unk>`` token and warn; transformers 5 loads the byte-level
    ``tokenizer.json`` as written either way.
    """
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out / "tokenizer.json"))
    others = [t for t in special_tokens if t not in (bos_token, eos_token, pad_token)]
    config: dict[str, Any] = {
        "tokenizer_class": tokenizer_class,
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": bos_token,
        "eos_token": eos_token,
        "pad_token": pad_token,
        "additional_special_tokens": others,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
    }
    if tokenizer_class == "LlamaTokenizerFast":
        config.update(unk_token=None, legacy=True)
    if chat_template is not None:
        config["chat_template"] = chat_template
    if extra:
        config["repoloom"] = extra
    (out / "tokenizer_config.json").write_text(
        json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    # transformers 5 writes the template to its own file, which would win over the one above
    (out / "chat_template.jinja").unlink(missing_ok=True)
    special_map = {
        "bos_token": bos_token,
        "eos_token": eos_token,
        "pad_token": pad_token,
        "additional_special_tokens": others,
    }
    (out / "special_tokens_map.json").write_text(
        json.dumps(special_map, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return out


def save_portable_tokenizer(hf_tokenizer: Any, out: Path, *, model_max_length: int) -> Path:
    """Save a loaded HF tokenizer so that transformers 4.4x and 5.x both load it with the same ids.

    ``hf_tokenizer.save_pretrained`` under transformers 5 writes class ``TokenizersBackend``, a
    list-valued ``extra_special_tokens`` and ``chat_template.jinja``, none of which transformers
    4.46 reads. Here the backend ``tokenizer.json`` is written as is, with the released
    checkpoints' ``LlamaTokenizerFast`` config (``model_max_length`` is the model's context, which
    vLLM takes as an upper bound of its max model length).
    """
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    backend.no_padding()
    backend.no_truncation()
    decoder = getattr(hf_tokenizer, "added_tokens_decoder", {})
    specials = [t.content for _, t in sorted(decoder.items()) if t.special]
    return save_tokenizer_dir(
        backend,
        out,
        pad_token=hf_tokenizer.pad_token or hf_tokenizer.eos_token,
        model_max_length=model_max_length,
        tokenizer_class="LlamaTokenizerFast",
        bos_token=hf_tokenizer.bos_token,
        eos_token=hf_tokenizer.eos_token,
        special_tokens=specials,
        chat_template=getattr(hf_tokenizer, "chat_template", None),
    )
