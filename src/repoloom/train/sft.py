"""Instruction tuning data: JSONL -> the release chat template -> token ids with the prompt masked.

Each line is either ``{"instruction": ..., "output": ...}`` (Alpaca; an optional ``input`` is
appended to the instruction) or ``{"messages": [{"role": "system"|"user"|"assistant",
"content": ...}, ...]}``. The text is the release instruct template (PAPER_NOTES section 4)::

    <BOS>{system prompt}\\n### Instruction:\\n{user}\\n### Response:\\n{assistant}\\n<|EOT|>\\n

Only the assistant's answer, its ``\\n`` and the closing ``<|EOT|>`` carry loss; the BOS, system
prompt, instructions and the ``### Response:\\n`` headers get label -100. Masking works on
character spans of the rendered string (offset mapping of a fast tokenizer), so the ids are
exactly those of tokenizing the whole conversation, as at inference. Text and spans come from the
one chat renderer that serve and evaluate use (:mod:`repoloom.prompts`).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from repoloom.prompts import EOT, render_release_chat

log = logging.getLogger(__name__)


def record_to_messages(rec: dict[str, Any]) -> list[dict[str, str]]:
    """Normalise one JSONL record to chat messages; ValueError when it is neither format."""
    if "messages" in rec:
        msgs = rec["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise ValueError("'messages' must be a non-empty list")
        out = []
        for m in msgs:
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
                raise ValueError(f"bad message {m!r}")
            if not isinstance(m.get("content"), str):
                raise ValueError("message content must be a string")
            out.append({"role": m["role"], "content": m["content"]})
        if not any(m["role"] == "assistant" for m in out):
            raise ValueError("no assistant message")
        return out
    if isinstance(rec.get("instruction"), str) and isinstance(rec.get("output"), str):
        instruction = rec["instruction"]
        if isinstance(rec.get("input"), str) and rec["input"].strip():
            instruction = f"{instruction}\n{rec['input']}"
        return [
            {"role": "user", "content": instruction},
            {"role": "assistant", "content": rec["output"]},
        ]
    raise ValueError("expected 'instruction' + 'output' or 'messages'")


def render(
    messages: list[dict[str, str]], bos_token: str, system_prompt: str | None = None
) -> tuple[str, list[tuple[int, int]]]:
    """The template text and the character spans that carry loss (answer + ``\\n<|EOT|>``),
    both from the one chat renderer, :func:`repoloom.prompts.render_release_chat`."""
    rendered = render_release_chat(
        messages, bos_token=bos_token, system_prompt=system_prompt, add_generation_prompt=False
    )
    return rendered.text, list(rendered.assistant_spans)


def encode(
    tokenizer: Any,
    messages: list[dict[str, str]],
    max_tokens: int,
    system_prompt: str | None = None,
) -> tuple[list[int], list[bool]]:
    """Token ids and per-token "carries loss" flags, truncated to ``max_tokens``."""
    text, spans = render(messages, tokenizer.bos_token or "", system_prompt)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    target = [any(s <= start < e for s, e in spans) for start, _end in enc["offset_mapping"]]
    return ids[:max_tokens], target[:max_tokens]


class SFTDataset:
    """Tokenised conversations; ``factory()`` gives the per-rank iterables the trainer wants."""

    def __init__(self, examples: list[tuple[list[int], list[bool]]]) -> None:
        if not examples:
            raise ValueError("no usable SFT examples")
        self.examples = examples

    @classmethod
    def from_jsonl(
        cls, path: str | Path, tokenizer: Any, seq_len: int, system_prompt: str | None = None
    ) -> SFTDataset:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"SFT data not found: {p}")
        if EOT not in tokenizer.get_vocab():
            raise ValueError(f"tokenizer has no {EOT} token")
        return cls.from_records(
            (line for line in p.read_text().splitlines()), tokenizer, seq_len, system_prompt, str(p)
        )

    @classmethod
    def from_records(
        cls,
        lines: Iterable[str | dict[str, Any]],
        tokenizer: Any,
        seq_len: int,
        system_prompt: str | None = None,
        source: str = "records",
    ) -> SFTDataset:
        examples, skipped = [], 0
        for n, line in enumerate(lines, 1):
            if isinstance(line, str) and not line.strip():
                continue
            try:
                rec = json.loads(line) if isinstance(line, str) else line
                ids, target = encode(tokenizer, record_to_messages(rec), seq_len + 1, system_prompt)
            except (ValueError, TypeError) as exc:
                skipped += 1
                log.warning("%s:%d skipped: %s", source, n, exc)
                continue
            if not any(target[1:]):
                skipped += 1
                log.warning("%s:%d skipped: no answer token within %d tokens", source, n, seq_len)
                continue
            examples.append((ids, target))
        log.info("%s: %d SFT examples, %d skipped", source, len(examples), skipped)
        ds = cls(examples)
        ds.skipped = skipped
        return ds

    def window(self, i: int) -> dict[str, Any]:
        import torch

        ids, target = self.examples[i]
        t = torch.tensor(ids, dtype=torch.long)
        labels = t[1:].clone()
        labels[~torch.tensor(target[1:], dtype=torch.bool)] = -100
        return {"input_ids": t[:-1], "labels": labels}

    def factory(
        self, shuffle: bool = True, seed: int = 0
    ) -> Callable[..., Iterable[dict[str, Any]]]:
        def make(
            rank: int, world_size: int, start_index: int, epoch: int = 0
        ) -> Iterator[dict[str, Any]]:
            order = list(range(len(self.examples)))
            if shuffle:
                random.Random(seed * 1_000_003 + epoch).shuffle(order)
            for i in order[start_index + rank :: world_size]:
                yield self.window(i)

        return make


def pad_collate(pad_id: int) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    """Right-pad to the longest window of the batch; padding gets label -100. With causal attention
    right padding changes nothing for the real tokens, so no attention mask is needed."""

    def collate(windows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        n = max(len(w["input_ids"]) for w in windows)
        input_ids = torch.full((len(windows), n), pad_id, dtype=torch.long)
        labels = torch.full((len(windows), n), -100, dtype=torch.long)
        for i, w in enumerate(windows):
            k = len(w["input_ids"])
            input_ids[i, :k] = torch.as_tensor(w["input_ids"])
            labels[i, :k] = torch.as_tensor(w["labels"])
        return {"input_ids": input_ids, "labels": labels}

    return collate
