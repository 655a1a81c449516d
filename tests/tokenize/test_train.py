from __future__ import annotations

import json
from pathlib import Path

from repoloom.cli import main
from repoloom.tokenize import release

from .helpers import file_docs, write_samples


def test_trained_tokenizer_loads_with_autotokenizer(small_tokdir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(small_tokdir))
    assert len(tok) == 1000 + len(release.SPECIAL_TOKENS)
    ids = [tok.convert_tokens_to_ids(t) for t in release.SPECIAL_TOKENS]
    assert ids == list(range(1000, 1009))  # release order, after the BPE vocabulary
    for t, i in zip(release.SPECIAL_TOKENS, ids, strict=True):
        assert tok.encode(t, add_special_tokens=False) == [i]
    text = "def add(a, b):\n    return a + b  # 1234 ½\n"
    enc = tok.encode(text)
    assert enc[0] == tok.bos_token_id == ids[0]
    assert tok.decode(enc, skip_special_tokens=True) == text
    # the release splits: every digit is its own pre-token, newlines are isolated
    pieces = [
        tok.convert_ids_to_tokens(i) for i in tok.encode("x = 1234\n\n", add_special_tokens=False)
    ]
    assert pieces[-6:] == ["1", "2", "3", "4", "Ċ", "Ċ"]
    chat = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert chat.endswith("### Instruction:\nhi\n### Response:\n")
    cfg = json.loads((small_tokdir / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert cfg["chat_template"] == release.CHAT_TEMPLATE and cfg["pad_token"] == release.PAD


def test_cli_train(tmp_path: Path, capsys) -> None:
    corpus = write_samples(tmp_path / "c", file_docs(8))
    out = tmp_path / "tok"
    assert (
        main(
            [
                "tokenizer",
                "train",
                "--corpus",
                str(corpus),
                "--vocab-size",
                "400",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["documents"] == 8 and summary["bpe_vocab_size"] == 400
    assert (
        main(
            ["tokenizer", "train", "--corpus", str(corpus), "--vocab-size", "10", "--out", str(out)]
        )
        == 2
    )
