"""Instruction tuning: release template, prompt masking, <|EOT|>, and a tiny model that learns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from repoloom.train.sft import SFTDataset, encode, pad_collate, record_to_messages, render
from repoloom.train.train import train
from tests.train.helpers import micro_config

testing = pytest.importorskip("repoloom.testing")

PAIRS = [
    ("name the sort in python", "sorted(xs)"),
    ("open a file", "open(path)"),
    ("print hello", "print('hello')"),
    ("import the os module", "import os"),
    ("length of a list", "len(items)"),
    ("define an empty class", "class Stack: pass"),
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    tok = testing.tiny_tokenizer()
    path = tmp_path_factory.mktemp("tok")
    tok.save_pretrained(path)
    return path


def test_template_is_the_release_template_and_prompt_is_masked(tokenizer: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer)
    msgs = [
        {"role": "user", "content": "write add"},
        {"role": "assistant", "content": "def add(a, b): return a + b"},
        {"role": "user", "content": "and sub?"},
        {"role": "assistant", "content": "def sub(a, b): return a - b"},
    ]
    text, spans = render(msgs, tok.bos_token)
    assert text == tok.apply_chat_template(msgs, tokenize=False)  # the release template
    ids, target = encode(tok, msgs, 10_000)
    assert ids == tok(text, add_special_tokens=False)["input_ids"]
    answer_ids = [i for i, t in zip(ids, target, strict=True) if t]
    eot = tok.convert_tokens_to_ids("<|EOT|>")
    assert answer_ids.count(eot) == 2 and ids.count(eot) == 2
    decoded = tok.decode(answer_ids)
    assert decoded == "def add(a, b): return a + b\n<|EOT|>def sub(a, b): return a - b\n<|EOT|>"
    ds = SFTDataset.from_records([{"messages": msgs}], tok, 4096)
    w = ds.window(0)
    # labels are shifted ids with every prompt position at -100
    kept = w["labels"][w["labels"] != -100].tolist()
    assert kept == answer_ids
    batch = pad_collate(tok.pad_token_id)([w, ds.window(0)])
    assert batch["input_ids"].shape == (2, len(ids) - 1)


def test_bad_records_are_counted_not_fatal(tokenizer: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer)
    lines = ['{"instruction": "a", "output": "b"}', "not json", '{"text": "x"}', ""]
    ds = SFTDataset.from_records(lines, tok, 512)
    assert len(ds.examples) == 1 and ds.skipped == 2
    with pytest.raises(ValueError):
        record_to_messages({"messages": [{"role": "user", "content": "no answer"}]})


def test_tiny_model_learns_instructions(tmp_path: Path, tokenizer: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps({"instruction": i, "output": o}) + "\n" for i, o in PAIRS))
    cfg = micro_config(
        tmp_path / "run",
        data,
        stage="sft",
        tokenizer=str(tokenizer),
        system_prompt="",
        seq_len=128,
        micro_batch_size=6,
        max_steps=60,
        lr=1e-2,
        schedule="cosine",
        warmup_steps=10,
        min_lr_ratio=0.0,
        log_every=10,
    )
    summary = train(cfg)
    assert summary["losses"][-1][1] < 0.1 * summary["losses"][0][1]

    tok = AutoTokenizer.from_pretrained(tmp_path / "run" / "hf")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "hf")
    eot = tok.convert_tokens_to_ids("<|EOT|>")
    assert model.generation_config.eos_token_id == eot
    right = 0
    for instruction, output in PAIRS:
        prompt = render([{"role": "user", "content": instruction}], tok.bos_token, "")[0]
        prompt += "### Response:\n"  # the prompt part of the trained turn (masked)
        ids = tok(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=24, do_sample=False)[0, ids.shape[1] :]
        right += out[-1].item() == eot and tok.decode(out) == f"{output}\n<|EOT|>"
    assert right >= len(PAIRS) - 1, right
