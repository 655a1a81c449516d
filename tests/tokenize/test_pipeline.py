from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repoloom.cli import main
from repoloom.tokenize.pipeline import CorpusSpec, TokenizeError, TokenizeSettings, run_tokenize
from repoloom.tokenize.shards import IndexedShard

from .helpers import file_docs, stdlib_repos, write_samples


def all_files(d: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(d)): p.read_bytes()
        for p in sorted(d.rglob("*"))
        if p.is_file() and p.name != "run.json"
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = stdlib_repos(("json", "urllib", "http")) + file_docs(12)
    return write_samples(tmp_path_factory.mktemp("corpus"), rows, row_group_size=3, files=2)


def settings(tokdir: Path, corpus: Path, **kw) -> TokenizeSettings:
    return TokenizeSettings(
        tokenizer=str(tokdir),
        seq_len=kw.pop("seq_len", 256),
        corpora=[CorpusSpec("code", "samples", str(corpus))],
        **kw,
    )


def test_shards_are_megatron_format_with_eos_between_documents(
    small_tokdir: Path, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "tok"
    rep = run_tokenize(settings(small_tokdir, corpus, fim_rate=0.0), out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dtype"] == "uint16" and manifest["format"] == "megatron-mmap-v1"
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(small_tokdir / "tokenizer.json"))
    eos = manifest["eos_id"]
    texts = [
        r["text"]
        for f in sorted((corpus / "samples").glob("*.parquet"))
        for r in pq.read_table(f).to_pylist()
    ]
    docs = []
    for sh in manifest["shards"]:
        prefix = out / sh["prefix"]
        raw = Path(f"{prefix}.idx").read_bytes()
        # header laid out as Megatron's MMapIndexedDataset reads it
        assert raw[:9] == b"MMIDIDX\x00\x00"
        assert struct.unpack_from("<QBQQ", raw, 9) == (1, 8, sh["docs"], sh["docs"] + 1)
        shard = IndexedShard(prefix)
        assert shard.n_tokens == sh["tokens"] == Path(f"{prefix}.bin").stat().st_size // 2
        assert shard.doc_idx.tolist() == list(range(sh["docs"] + 1))
        docs += [shard[i] for i in range(len(shard))]
    assert len(docs) == len(texts) == rep["totals"]["docs"]
    for doc, text in zip(docs, texts, strict=True):
        assert doc[-1] == eos and int((doc == eos).sum()) == 1
        assert tok.decode(doc[:-1].tolist()) == text  # nothing cut, nothing dropped
    t = rep["totals"]
    assert t["docs_longer_than_seq_len"] > 0
    assert t["tokens"] == sum(len(d) for d in docs)
    assert t["windows"] == (t["tokens"] - 1) // 256
    assert rep["languages"]["python"]["share"] == pytest.approx(1.0)
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fim_share_and_worker_count_do_not_change_bytes(
    small_tokdir: Path, corpus: Path, tmp_path: Path
) -> None:
    one = run_tokenize(settings(small_tokdir, corpus), tmp_path / "w1", workers=1)
    run_tokenize(settings(small_tokdir, corpus), tmp_path / "w2", workers=2)
    assert all_files(tmp_path / "w1") == all_files(tmp_path / "w2")
    t = one["totals"]
    assert t["fim_units"] == 15 and 0 < t["fim_psm"] < 15 and t["fim_spm"] == 0
    assert t["fim_share_of_units"] == t["fim_psm"] / 15


def test_rerun_with_other_settings_is_refused(
    small_tokdir: Path, corpus: Path, tmp_path: Path
) -> None:
    run_tokenize(settings(small_tokdir, corpus), tmp_path / "o")
    with pytest.raises(TokenizeError, match="fim_rate"):
        run_tokenize(settings(small_tokdir, corpus, fim_rate=0.1), tmp_path / "o")


def test_bad_records_are_counted_not_fatal(small_tokdir: Path, tmp_path: Path) -> None:
    rows = file_docs(3)
    rows.append(dict(rows[0], sample_id="empty", text=""))
    rows.append(dict(rows[0], sample_id="null", text=None))
    corpus = write_samples(tmp_path / "c", rows)
    rep = run_tokenize(settings(small_tokdir, corpus), tmp_path / "o")
    assert rep["totals"]["docs"] == 3
    assert rep["totals"]["skipped"] == {"empty or null text": 2}
    pq.write_table(pa.table({"other": [1]}), corpus / "samples" / "zz.parquet")
    with pytest.raises(Exception, match="no 'text' column"):
        run_tokenize(settings(small_tokdir, corpus), tmp_path / "o2")


def test_cli_errors_are_user_errors(
    small_tokdir: Path, corpus: Path, tmp_path: Path, capsys
) -> None:
    base = ["tokenize", "--tokenizer", str(small_tokdir), "--out", str(tmp_path / "o")]
    assert main([*base, "--corpus", str(tmp_path / "nope")]) == 2
    assert main([*base, "--corpus", str(corpus), "--fim-rate", "2"]) == 2
    assert main([*base, "--corpus", f"a={corpus}", "--shares", "b=1"]) == 2
    assert (
        main(
            [
                "tokenize",
                "--corpus",
                str(corpus),
                "--tokenizer",
                str(tmp_path),
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "no such file" in err and "no tokenizer.json" in err


def test_kill_and_rerun_gives_byte_identical_shards(small_tokdir: Path, tmp_path: Path) -> None:
    rows = file_docs(60)
    corpus = write_samples(tmp_path / "c", rows, row_group_size=2, files=3)  # 30 chunks
    cmd = [
        sys.executable,
        "-m",
        "repoloom.cli",
        "tokenize",
        "--corpus",
        f"code={corpus}",
        "--tokenizer",
        str(small_tokdir),
        "--seq-len",
        "128",
        "--fim-rate",
        "0.5",
        "--workers",
        "1",
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    ref = tmp_path / "ref"
    subprocess.run([*cmd, "--out", str(ref)], check=True, env=env, capture_output=True)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*cmd, "--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("shards/code/*.json"))) < 3:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(out.glob("shards/code/*.json")))
    assert 3 <= done < 30, "the run must be killed midway"
    assert not (out / "manifest.json").exists()
    subprocess.run([*cmd, "--out", str(out)], check=True, env=env, capture_output=True)
    assert all_files(out) == all_files(ref)
    assert not list(out.rglob("*.tmp"))


def test_chunking_and_batching_do_not_change_the_stream(
    small_tokdir: Path, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from repoloom.tokenize import pipeline, readers
    from repoloom.tokenize.dataset import TokenStream

    run_tokenize(settings(small_tokdir, corpus), tmp_path / "a")
    monkeypatch.setattr(readers, "PARQUET_CHUNK_BYTES", 30_000)
    monkeypatch.setattr(pipeline, "ENCODE_BATCH_CHARS", 50_000)
    run_tokenize(settings(small_tokdir, corpus), tmp_path / "b")
    a, b = TokenStream(tmp_path / "a"), TokenStream(tmp_path / "b")
    assert len(b.shards) > len(a.shards)
    assert a.n_tokens == b.n_tokens
    assert a.read(0, a.n_tokens).tolist() == b.read(0, b.n_tokens).tolist()
    ra = json.loads((tmp_path / "a" / "report.json").read_text())["totals"]
    rb = json.loads((tmp_path / "b" / "report.json").read_text())["totals"]
    assert ra == rb
