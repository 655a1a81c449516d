from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repoloom.cli import main
from repoloom.tokenize.dataset import TokenStream, TokenWindowDataset
from repoloom.tokenize.readers import (
    Chunk,
    ReadStats,
    detect_kind,
    html_to_text,
    list_chunks,
    read_chunk,
)

from .helpers import STDLIB, file_docs, write_samples

POSTS = """<?xml version="1.0" encoding="utf-8"?>
<posts>
  <row Id="1" PostTypeId="1" Title="How do I reverse a list in Python?" Body="&lt;p&gt;I have &lt;code&gt;xs&lt;/code&gt;.&lt;/p&gt;&#xA;&lt;pre&gt;&lt;code&gt;xs = [1, 2]&#xA;if a &amp;lt; b: pass&#xA;&lt;/code&gt;&lt;/pre&gt;" />
  <row Id="2" PostTypeId="2" ParentId="1" Body="&lt;p&gt;Use &lt;code&gt;xs[::-1]&lt;/code&gt; or &lt;code&gt;reversed(xs)&lt;/code&gt;.&lt;/p&gt;" />
  <row Id="3" PostTypeId="5" Body="&lt;p&gt;tag wiki&lt;/p&gt;" />
  <row Id="4" PostTypeId="2" ParentId="1" Body="" />
</posts>
"""


def docs_of(kind: str, path: Path) -> tuple[list, ReadStats]:
    stats = ReadStats()
    docs = [d for ch in list_chunks("c", kind, path) for d in read_chunk(ch, stats)]
    return docs, stats


def test_stackexchange_posts(tmp_path: Path) -> None:
    p = tmp_path / "se" / "Posts.xml"
    p.parent.mkdir()
    p.write_text(POSTS, encoding="utf-8")
    assert detect_kind(p) == "stackexchange"
    docs, stats = docs_of("stackexchange", p)
    assert [d.doc_id for d in docs] == ["se:se:1", "se:se:2"]
    assert docs[0].text.startswith("How do I reverse a list in Python?\n\nI have xs.")
    assert "```\nxs = [1, 2]\nif a < b: pass\n```" in docs[0].text
    assert docs[1].text == "Use xs[::-1] or reversed(xs).\n"
    assert stats.skipped == {"post is not a question or answer": 1, "empty post": 1}
    broken = tmp_path / "Posts.xml"
    broken.write_text(POSTS[:300], encoding="utf-8")
    docs, stats = docs_of("stackexchange", broken)
    assert any("XML parse error" in k for k in stats.skipped)


def test_jsonl_parquet_and_markdown_readers(tmp_path: Path) -> None:
    d = tmp_path / "text"
    d.mkdir()
    lines = [
        json.dumps({"text": "中文文本一"}),
        "{bad json",
        json.dumps({"id": "x7", "text": "second"}),
        json.dumps({"text": ""}),
    ]
    (d / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with gzip.open(d / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"text": "gz"}) + "\n")
    pq.write_table(pa.table({"text": ["p1", None, "p3"]}), d / "c.parquet")
    assert detect_kind(d) == "text"
    docs, stats = docs_of("text", d)
    assert [x.text for x in docs] == ["中文文本一", "second", "gz", "p1", "p3"]
    assert docs[1].doc_id == "x7" and docs[0].doc_id == "a.jsonl:0"
    assert stats.skipped == {"invalid JSON line": 1, "empty or null text": 2}

    md = tmp_path / "repos"
    (md / "r1" / ".git").mkdir(parents=True)
    (md / "r1" / "README.md").write_text("# Title\n\nText.\n", encoding="utf-8")
    (md / "r1" / ".git" / "x.md").write_text("no", encoding="utf-8")
    (md / "r1" / "bad.md").write_bytes(b"\xff\xfe bad")
    (md / "r1" / "link.md").symlink_to(md / "r1" / "README.md")
    (md / "r1" / "code.py").write_text("x = 1\n", encoding="utf-8")
    docs, stats = docs_of("markdown", md)
    assert [x.doc_id for x in docs] == ["md:r1/README.md"]
    assert stats.skipped == {"markdown file not UTF-8": 1}
    assert detect_kind(md) == "markdown"


def test_html_to_text_keeps_code() -> None:
    assert (
        html_to_text("<p>a &amp; b</p><pre><code>x &lt; 1\n</code></pre>")
        == "a & b\n```\nx < 1\n```\n"
    )


@pytest.fixture(scope="module")
def three_corpora(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mix")
    code = write_samples(root / "code", file_docs(24), row_group_size=8)
    en = root / "en"
    en.mkdir()
    texts = [f.read_text(encoding="utf-8") for f in sorted((STDLIB / "email").glob("*.py"))]
    (en / "docs.jsonl").write_text(
        "".join(json.dumps({"text": t[:1500]}) + "\n" for t in texts * 3), encoding="utf-8"
    )
    zh = root / "zh"
    zh.mkdir()
    pq.write_table(
        pa.table({"text": [f"第{i}章：这是用于测试的中文文本。" * 5 for i in range(60)]}),
        zh / "zh.parquet",
    )
    return {"code": code, "en": en, "zh": zh}


def run_mix(tokdir: Path, corpora: dict[str, Path], out: Path, shares: str, *extra: str) -> dict:
    args = [
        "tokenize",
        "--tokenizer",
        str(tokdir),
        "--out",
        str(out),
        "--seq-len",
        "64",
        "--workers",
        "1",
    ]
    args += [
        "--corpus",
        *[f"{k}={v}" for k, v in corpora.items()],
        "--shares",
        *shares.split(),
        *extra,
    ]
    assert main(args) == 0
    return json.loads((out / "report.json").read_text())


def test_mixing_reaches_target_shares_deterministically(
    small_tokdir: Path, three_corpora: dict[str, Path], tmp_path: Path
) -> None:
    rep = run_mix(small_tokdir, three_corpora, tmp_path / "a", "code=0.87 en=0.10 zh=0.03")
    mix = rep["mix"]
    for name, want in {"code": 0.87, "en": 0.10, "zh": 0.03}.items():
        assert mix["achieved_share"][name] == pytest.approx(want, abs=0.01)
    assert max(mix["epochs"].values()) == pytest.approx(1.0, abs=0.02)  # nothing repeated
    rep2 = run_mix(small_tokdir, three_corpora, tmp_path / "b", "code=0.87 en=0.10 zh=0.03")
    assert rep2["mix"] == mix
    assert (tmp_path / "a" / "mix.npy").read_bytes() == (tmp_path / "b" / "mix.npy").read_bytes()
    # the dataset streams exactly the selected documents, interleaved
    stream = TokenStream(tmp_path / "a")
    assert stream.n_tokens == mix["tokens"]
    corp = [stream.manifest["shards"][int(s)]["corpus"] for s in stream.seg_shard]
    assert set(corp) == {"code", "en", "zh"} and corp[: len(corp) // 2].count("zh") > 0
    assert TokenWindowDataset(tmp_path / "a", 64).num_samples == (mix["tokens"] - 1) // 64
    per_lang = rep["languages"]
    assert {"python", "en", "zh"} <= set(per_lang)


def test_mix_budget_repeats_a_small_corpus(
    small_tokdir: Path, three_corpora: dict[str, Path], tmp_path: Path
) -> None:
    rep = run_mix(small_tokdir, three_corpora, tmp_path / "a", "code=0.5 en=0.25 zh=0.25")
    avail = rep["mix"]["available_tokens"]
    budget = 2 * sum(avail.values())
    rep = run_mix(
        small_tokdir,
        three_corpora,
        tmp_path / "b",
        "code=0.5 en=0.25 zh=0.25",
        "--mix-tokens",
        str(budget),
    )
    mix = rep["mix"]
    assert mix["epochs"]["zh"] > 2
    for name, want in {"code": 0.5, "en": 0.25, "zh": 0.25}.items():
        assert mix["achieved_share"][name] == pytest.approx(want, abs=0.01)
    table = np.load(tmp_path / "b" / "mix.npy")
    assert len({tuple(r) for r in table.tolist()}) < len(table)  # repeated documents


def test_chunk_of_unknown_kind() -> None:
    with pytest.raises(ValueError):
        list(read_chunk(Chunk("c", "nope", "x", 0, "x"), ReadStats()))
