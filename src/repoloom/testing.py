"""Tiny, random, DeepSeek-Coder-shaped checkpoints for tests and benchmarks.

``tiny_model(out_dir)`` writes a Hugging Face model directory that loads with
``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained``: a randomly initialised
``LlamaForCausalLM`` of a few million parameters and a byte-level BPE tokenizer that carries the
release's special tokens (BOS/EOS, the three FIM tokens, ``<pad>``, ``<|User|>``,
``<|Assistant|>``, ``<|EOT|>``), adds BOS like the release tokenizer and has the release instruct
chat template. The weights are random, so the model writes noise, but every code path (FIM
rendering, chat template, stopping, batching, streaming) is exercised exactly as with a real
checkpoint. Building one takes about a second on a laptop CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repoloom.prompts import BOS, CHAT_TEMPLATE, EOS, PAD, SPECIAL_TOKENS

# A little real code so the BPE merges look like code merges.
_TRAINING_TEXT = (
    "import os\nimport sys\nfrom pathlib import Path\n\n\n"
    "def add(a: int, b: int) -> int:\n    return a + b\n\n\n"
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n"
    "    def push(self, item):\n        self.items.append(item)\n\n"
    "    def pop(self):\n        return self.items.pop()\n\n\n"
    "def quick_sort(values):\n    if len(values) <= 1:\n        return values\n"
    "    pivot = values[0]\n    left = [v for v in values[1:] if v < pivot]\n"
    "    right = [v for v in values[1:] if v >= pivot]\n"
    "    return quick_sort(left) + [pivot] + quick_sort(right)\n\n"
    "if __name__ == '__main__':\n    print(add(1, 2))\n"
    '#include <stdio.h>\nint main(void) {\n    printf("hello\\n");\n    return 0;\n}\n'
    "function sum(xs) { return xs.reduce((a, b) => a + b, 0); }\n"
    "### Instruction:\nWrite a function.\n### Response:\nSure.\n"
)


def tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with the release special tokens and template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_TRAINING_TEXT] * 4, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
    )
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in (BOS, EOS, PAD)],
    )
    hf.chat_template = CHAT_TEMPLATE
    return hf


def random_llama(
    out: str | Path,
    tokenizer: Any,
    *,
    vocab_size: int | None = None,
    hidden_size: int = 64,
    intermediate_size: int = 176,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int | None = None,
    max_position_embeddings: int = 2048,
    rope_theta: float = 1e4,
    rope_scaling_factor: float | None = None,
    init_std: float = 0.02,
    seed: int = 0,
    through_export: bool = False,
) -> Path:
    """A random LLaMA of the release architecture (RMSNorm eps 1e-6, SwiGLU, RoPE, untied
    embeddings) with ``tokenizer``, written to ``out``: by ``save_pretrained``, or with
    ``through_export`` by the training export (``repoloom.train.checkpoint.export_hf``, as
    ``RUN_DIR/hf``). ``vocab_size``: the tokenizer's length unless given; ``num_kv_heads``:
    ``num_heads`` (no GQA) unless given; ``init_std`` widens the logits' spread for parity checks.
    Returns ``out`` as a ``Path``."""
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    from repoloom.train.checkpoint import export_hf
    from repoloom.train.model import make_llama_config

    config = make_llama_config(
        {
            "vocab_size": vocab_size or len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": intermediate_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": num_heads,
            "num_key_value_heads": num_kv_heads or num_heads,
            "max_position_embeddings": max_position_embeddings,
            "rms_norm_eps": 1e-6,
            "tie_word_embeddings": False,
            "initializer_range": init_std,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
            "rope_theta": rope_theta,
            "rope_scaling_factor": rope_scaling_factor,
        }
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    out = Path(out)
    if through_export:
        out_dir = export_hf(out, model, config, "float32", tokenizer)
        assert out_dir is not None  # rank 0 (no process group here)
        return out_dir
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def tiny_model(
    out_dir: str | Path, *, tokenizer_dir: str | Path | None = None, **shape: Any
) -> Path:
    """Write a tiny random DeepSeek-Coder-shaped checkpoint (model + tokenizer) to ``out_dir``
    (``shape``: `random_llama`'s keywords, e.g. ``hidden_size``, ``num_layers``, ``seed``).

    ``tokenizer_dir``: use that tokenizer (e.g. the imported release tokenizer) instead of the
    tiny one. Returns ``out_dir`` as a ``Path``.
    """
    if tokenizer_dir is not None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    else:
        tokenizer = tiny_tokenizer()
    return random_llama(out_dir, tokenizer, **shape)


def exported_checkpoint(out: Path, tokenizer: Any, **shape: Any) -> Path:
    """A random LLaMA written by the training export (`random_llama` with ``through_export``),
    by default with the release's GQA (2 KV heads) and long-context RoPE (theta 1e5, linear
    factor 4, 16K positions); ``shape`` overrides any of `random_llama`'s keywords."""
    release_like = {
        "num_kv_heads": 2,
        "max_position_embeddings": 16384,
        "rope_theta": 1e5,
        "rope_scaling_factor": 4.0,
    }
    return random_llama(out, tokenizer, **(release_like | shape), through_export=True)
