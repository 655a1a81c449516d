from __future__ import annotations

import json
from pathlib import Path

import pytest

from repoloom.cli import main
from repoloom.tokenize import release
from repoloom.tokenize.gguf_import import GGUFImportError, import_gguf

# The README example of deepseek-ai/DeepSeek-Coder ("code insertion").
README_FIM = """<｜fim▁begin｜>def quick_sort(arr):
    if len(arr) <= 1:
        return arr
    pivot = arr[0]
    left = []
    right = []
<｜fim▁hole｜>
        if arr[i] < pivot:
            left.append(arr[i])
        else:
            right.append(arr[i])
    return quick_sort(left) + [pivot] + quick_sort(right)<｜fim▁end｜>"""


def load_cases(ref: Path) -> list[tuple[str, list[int]]]:
    inp = (ref / "ggml-vocab-deepseek-coder.gguf.inp").read_text(encoding="utf-8")
    out = (ref / "ggml-vocab-deepseek-coder.gguf.out").read_text(encoding="utf-8")
    texts = inp.split("\n__ggml_vocab_test__\n")
    ids = out.split("\n")
    assert len(texts) == len(ids) == 47
    assert texts[-1] == "" and ids[-1] == ""  # the 47th entry is empty
    return [(t, [int(x) for x in i.split()]) for t, i in zip(texts[:-1], ids[:-1], strict=True)]


@pytest.fixture(scope="module")
def hf_release(release_tokdir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(release_tokdir))


def test_all_46_reference_cases_match(hf_release, reference_dir: Path) -> None:
    cases = load_cases(reference_dir)
    assert len(cases) == 46
    wrong = [
        (text, want, got)
        for text, want in cases
        if (got := hf_release.encode(text, add_special_tokens=False)) != want
    ]
    assert wrong == []
    # the case transformers' own GGUF loader gets wrong
    assert hf_release.encode("ied 4 ½ months", add_special_tokens=False) == [
        1050,
        207,
        19,
        207,
        19192,
        4217,
    ]


def test_special_tokens_have_release_ids(hf_release) -> None:
    assert len(hf_release) == 32022
    for token, want in release.RELEASE_SPECIAL_IDS.items():
        assert hf_release.convert_tokens_to_ids(token) == want
        assert hf_release.encode(token, add_special_tokens=False) == [want]
    assert set(release.RELEASE_SPECIAL_IDS.values()) <= set(hf_release.all_special_ids)
    assert hf_release.bos_token_id == 32013 and hf_release.eos_token_id == 32014
    # BOS is added by default, EOS is not (release behaviour)
    ids = hf_release.encode("x = 1")
    assert ids[0] == 32013 and ids[-1] != 32014


def test_readme_fim_prompt_encodes_to_release_ids(hf_release) -> None:
    ids = hf_release.encode(README_FIM)
    assert ids[:2] == [32013, 32016]
    assert ids[-1] == 32017
    assert ids.count(32015) == 1 and ids.count(32016) == 1 and ids.count(32017) == 1
    hole = ids.index(32015)
    prefix = README_FIM.split("<｜fim▁hole｜>")[0].removeprefix("<｜fim▁begin｜>")
    suffix = README_FIM.split("<｜fim▁hole｜>")[1].removesuffix("<｜fim▁end｜>")
    assert ids[2:hole] == hf_release.encode(prefix, add_special_tokens=False)
    assert ids[hole + 1 : -1] == hf_release.encode(suffix, add_special_tokens=False)
    # no sentinel is cut into pieces
    assert (
        hf_release.decode(ids, skip_special_tokens=False) == "<｜begin▁of▁sentence｜>" + README_FIM
    )


def test_chat_template_is_the_release_one(hf_release) -> None:
    msgs = [{"role": "user", "content": "write a quick sort algorithm in python."}]
    text = hf_release.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<｜begin▁of▁sentence｜>" + release.DEFAULT_SYSTEM_PROMPT + "\n"
        "### Instruction:\nwrite a quick sort algorithm in python.\n### Response:\n"
    )
    msgs += [{"role": "assistant", "content": "def f(): pass"}]
    text = hf_release.apply_chat_template(msgs, tokenize=False)
    assert text.endswith("### Response:\ndef f(): pass\n<|EOT|>\n")
    own = hf_release.apply_chat_template(
        [{"role": "system", "content": "SYS"}, {"role": "user", "content": "hi"}], tokenize=False
    )
    # release quirk, kept: a given system prompt is not followed by a newline
    assert own == "<｜begin▁of▁sentence｜>SYS### Instruction:\nhi\n"
    ids = hf_release.apply_chat_template(msgs, tokenize=True, return_dict=False)
    assert list(ids).count(32021) == 1 and list(ids).count(32013) == 1


def test_cli_import_and_config(reference_dir: Path, release_tokdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "tok"
    rc = main(
        [
            "tokenizer",
            "import",
            "--gguf",
            str(reference_dir / "ggml-vocab-deepseek-coder.gguf"),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["chat_template"] == release.CHAT_TEMPLATE
    assert config["repoloom"]["model_vocab_size"] == 32256
    # deterministic: the same bytes as the fixture's import of the same file
    assert (out / "tokenizer.json").read_bytes() == (release_tokdir / "tokenizer.json").read_bytes()


def test_bad_gguf_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(GGUFImportError):
        import_gguf(bad, tmp_path / "out")
    assert main(["tokenizer", "import", "--gguf", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not a readable GGUF" in capsys.readouterr().err
    assert (
        main(
            [
                "tokenizer",
                "import",
                "--gguf",
                str(tmp_path / "missing.gguf"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )


@pytest.mark.slow
def test_transformers_own_gguf_loader_differs_as_documented(reference_dir: Path) -> None:
    """Evidence for docs/tokenize.md: why we do not use ``from_pretrained(gguf_file=...)``."""
    from transformers import AutoTokenizer

    native = AutoTokenizer.from_pretrained(
        str(reference_dir), gguf_file="ggml-vocab-deepseek-coder.gguf"
    )
    # GPT-2 regex keeps the space with the number: Ġ+Â merge (2688) then ½ (121)
    assert native.encode("ied 4 ½ months", add_special_tokens=False) == [
        1050,
        207,
        19,
        2688,
        121,
        4217,
    ]
    # FIM sentinels are not single tokens there
    assert len(native.encode("<｜fim▁hole｜>", add_special_tokens=False)) > 1
