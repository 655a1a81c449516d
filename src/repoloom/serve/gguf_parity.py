"""Does llama.cpp run a GGUF export like transformers runs the checkpoint? (tests, benchmarks)

Two measures on the same token ids, both greedy:

- free-running: each runtime continues the prompt for ``n`` tokens on its own; the first step where
  they differ (``n`` when they never do). Once one token differs the two texts diverge, so this
  measures exactness (the f32 export must reach ``n``).
- teacher-forced: llama.cpp reads transformers' continuation and its argmax at every position is
  compared with transformers' token there; the fraction that agree. One quantization flip does not
  cascade, so this is the tolerance measure for q8_0 / q4_k_m.

Needs ``llama-cpp-python`` (the project's ``test`` extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Parity:
    steps: int
    first_mismatch: list[int]  # per prompt; == steps when the continuations are equal
    forced_agreement: float  # teacher-forced top-1 agreement over all prompts and steps
    logit_rel_error: float  # teacher-forced RMS(llama.cpp - transformers) / std(transformers)

    @property
    def exact(self) -> bool:
        return all(m == self.steps for m in self.first_mismatch)


@dataclass
class Reference:
    """transformers' greedy continuations and the logits it chose them from."""

    tokens: list[list[int]]
    logits: list[Any]  # per prompt: (steps, vocab) float32 arrays


def greedy_transformers(model_dir: Path, prompts: list[list[int]], steps: int) -> Reference:
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    outs, logits = [], []
    with torch.no_grad():
        for prompt in prompts:
            gen = model.generate(
                torch.tensor([prompt]),
                max_new_tokens=steps,
                min_new_tokens=steps,
                do_sample=False,
                eos_token_id=None,
                pad_token_id=0,
                output_logits=True,
                return_dict_in_generate=True,
            )
            outs.append(gen.sequences[0, len(prompt) :].tolist())
            logits.append(np.stack([step[0].float().numpy() for step in gen.logits]))
    return Reference(outs, logits)


def _llama(gguf_path: Path, n_ctx: int, logits_all: bool = False):
    from llama_cpp import GGML_TYPE_F32, Llama

    # The KV cache in float32 (llama.cpp's default is f16): the comparison then measures the
    # export's weights, not the cache's rounding.
    return Llama(
        str(gguf_path),
        n_ctx=n_ctx,
        n_threads=1,
        n_batch=n_ctx,
        logits_all=logits_all,
        seed=0,
        type_k=GGML_TYPE_F32,
        type_v=GGML_TYPE_F32,
        verbose=False,
    )


def greedy_llama_cpp(gguf_path: Path, prompts: list[list[int]], steps: int) -> list[list[int]]:
    n_ctx = max(len(p) for p in prompts) + steps + 8
    llm = _llama(gguf_path, n_ctx)
    try:
        outs = []
        for prompt in prompts:
            out: list[int] = []
            for token in llm.generate(
                prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True
            ):
                out.append(int(token))
                if len(out) == steps:
                    break
            outs.append(out)
        return outs
    finally:
        llm.close()


def forced_logits_llama_cpp(
    gguf_path: Path, prompts: list[list[int]], continuations: list[list[int]]
) -> list[Any]:
    """llama.cpp's logits after each prefix of prompt + continuation (teacher forcing)."""
    import numpy as np

    n_ctx = max(len(p) + len(c) for p, c in zip(prompts, continuations, strict=True)) + 8
    llm = _llama(gguf_path, n_ctx, logits_all=True)
    try:
        outs = []
        for prompt, cont in zip(prompts, continuations, strict=True):
            llm.reset()
            llm.eval(prompt + cont[:-1])
            start = len(prompt) - 1
            outs.append(np.array(llm.scores[start : start + len(cont)], dtype=np.float32))
        return outs
    finally:
        llm.close()


def tokenize_llama_cpp(gguf_path: Path, texts: list[str]) -> list[list[int]]:
    """llama.cpp's token ids for each text (no BOS, special tokens not parsed), as
    llama.cpp's ``test-tokenizer-0`` produces the release's vectors."""
    from llama_cpp import Llama

    llm = Llama(str(gguf_path), vocab_only=True, verbose=False)
    try:
        return [llm.tokenize(t.encode("utf-8"), add_bos=False, special=False) for t in texts]
    finally:
        llm.close()


def measure(
    model_dir: Path,
    gguf_path: Path,
    prompts: list[list[int]],
    steps: int,
    reference: Reference | None = None,
) -> Parity:
    """Compare llama.cpp on ``gguf_path`` with transformers on ``model_dir`` (``reference``: the
    transformers side when already computed)."""
    import numpy as np

    ref = reference if reference is not None else greedy_transformers(model_dir, prompts, steps)
    hf = ref.tokens
    cpp = greedy_llama_cpp(gguf_path, prompts, steps)
    first = [
        next((i for i, (a, b) in enumerate(zip(h, c, strict=True)) if a != b), steps)
        for h, c in zip(hf, cpp, strict=True)
    ]
    forced = forced_logits_llama_cpp(gguf_path, prompts, hf)
    want = np.concatenate(ref.logits)
    got = np.concatenate(forced)
    agree = float((got.argmax(-1) == want.argmax(-1)).mean())
    rel = float(np.sqrt(((got - want) ** 2).mean()) / want.std())
    return Parity(steps=steps, first_mismatch=first, forced_agreement=agree, logit_rel_error=rel)
