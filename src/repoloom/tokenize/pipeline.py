"""``repoloom tokenize``: corpora -> FIM -> token ids -> Megatron shards, resumable.

Layout of ``--out TOKENS``::

    TOKENS/run.json                   settings of the run (a rerun must match them)
    TOKENS/shards/CORPUS/NNNNNN.bin   token ids of one input chunk, documents back to back
    TOKENS/shards/CORPUS/NNNNNN.idx   Megatron MMapIndexedDataset index (document boundaries)
    TOKENS/shards/CORPUS/NNNNNN.json  statistics of the chunk; written last = chunk done
    TOKENS/manifest.json              shards in stream order, dtype, EOS id, optional mix
    TOKENS/report.json, report.png    token counts, FIM share, per-language share
    TOKENS/tokenizer/                 a copy of the tokenizer the shards were made with

Work is cut into chunks (a Parquet row group, a JSONL file, ...; see ``readers``). Every chunk is
a pure function of its input and the settings (FIM draws are keyed by document id), so a run
killed at any point and started again skips the finished chunks, redoes the rest and ends with
byte-identical files, whatever ``--workers`` is.

Each document becomes ``tokens(document or its FIM layout) + [EOS]``; nothing is cut or dropped
here: a document longer than ``seq_len`` simply spans several training windows
(``repoloom.tokenize.dataset``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repoloom.tokenize import fim, release
from repoloom.tokenize.readers import Chunk, CorpusError, ReadStats, list_chunks, read_chunk
from repoloom.tokenize.shards import dtype_for_vocab, write_shard

FIM_UNITS = ("document", "file")


class TokenizeError(ValueError):
    """Bad settings or inputs for a tokenize run."""


@dataclass
class CorpusSpec:
    name: str
    kind: str
    path: str
    share: float | None = None


@dataclass
class TokenizeSettings:
    tokenizer: str
    seq_len: int = 4096
    fim_rate: float = 0.5
    spm_rate: float = 0.0
    seed: int = 0
    fim_unit: str = "document"  # "document" (the report) or "file" (each file of a repo sample)
    header_template: str = "# {path}"
    mix_tokens: int | None = None  # total token budget of the mix (allows repeating a corpus)
    corpora: list[CorpusSpec] = field(default_factory=list)


#: Text longer than this is encoded in segments cut after a newline, when that is exact.
MAX_SEGMENT_CHARS = 64 << 10


def newline_cuts_are_exact(tok: Any) -> bool:
    """True when encoding text cut right after a newline gives the same ids as the whole text.

    Holds for the release pre-tokenizer (and ``repoloom tokenizer train``): no normalizer, the
    first step isolates every ``\r``/``\n``, so no pre-token (hence no BPE merge) crosses one,
    and no added token contains a newline.
    """
    cfg = json.loads(tok.to_str())
    pre = cfg.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    first = steps[0] if steps else {}
    return (
        cfg.get("normalizer") is None
        and first.get("type") == "Split"
        and first.get("pattern") == {"Regex": "[\r\n]"}
        and first.get("behavior") == "Isolated"
        and not first.get("invert", False)
        and not any("\n" in t["content"] or "\r" in t["content"] for t in cfg["added_tokens"])
    )


def cut_at_newlines(text: str, limit: int) -> list[str]:
    """Cut ``text`` right after newlines into pieces of at most ~``limit`` characters.

    A stretch without a newline longer than ``limit`` stays whole (the cut must be exact).
    """
    if len(text) <= limit:
        return [text]
    out = []
    start = 0
    while len(text) - start > limit:
        k = text.rfind("\n", start, start + limit)
        if k < 0:
            k = text.find("\n", start + limit)
            if k < 0:
                break
        out.append(text[start : k + 1])
        start = k + 1
    if start < len(text):
        out.append(text[start:])
    return out


def tokenizer_fingerprint(tokdir: Path) -> str:
    return hashlib.sha256((tokdir / "tokenizer.json").read_bytes()).hexdigest()[:16]


class Encoder:
    """Tokenizer + FIM for one process."""

    def __init__(self, settings: TokenizeSettings) -> None:
        from tokenizers import Tokenizer

        path = Path(settings.tokenizer) / "tokenizer.json"
        if not path.is_file():
            raise TokenizeError(f"{settings.tokenizer}: no tokenizer.json (run repoloom tokenizer)")
        self.tok = Tokenizer.from_file(str(path))
        self.settings = settings
        ids = {}
        for name in (release.EOS, release.FIM_BEGIN, release.FIM_HOLE, release.FIM_END):
            i = self.tok.token_to_id(name)
            if i is None:
                raise TokenizeError(f"tokenizer has no special token {name!r}")
            ids[name] = i
        self.sentinel_ids = ids
        self.eos_id = ids[release.EOS]
        self.vocab_size = self.tok.get_vocab_size(with_added_tokens=True)
        self.dtype = dtype_for_vocab(self.vocab_size)
        self.newline_cuts_exact = newline_cuts_are_exact(self.tok)

    def _units(self, doc: Any, stats: dict[str, Any]) -> list[tuple[str, str, dict[str, float]]]:
        """FIM units of a document: (unit id, text, language -> weight of the unit's tokens)."""
        s = self.settings
        files = None
        if doc.paths:
            files = fim.split_files(doc.text, list(doc.paths), s.header_template)
            if files is None:
                stats["file_split_failed"] += 1
        if files is not None and len(doc.languages) != len(files):
            langs = ["unknown"] * len(files)
        else:
            langs = doc.languages
        if s.fim_unit == "file" and files is not None:
            return [
                (f"{doc.doc_id}/{p}", t, {lang: 1.0})
                for p, t, lang in zip(doc.paths, files, langs, strict=True)
            ]
        if files is not None:
            # the document's tokens are credited to its files' languages by character share
            total = max(1, len(doc.text))
            weights: dict[str, float] = {}
            for lang, t in zip(langs, files, strict=True):
                weights[lang] = weights.get(lang, 0.0) + len(t) / total
            return [(doc.doc_id, doc.text, weights)]
        return [(doc.doc_id, doc.text, {(doc.languages or ["unknown"])[0]: 1.0})]

    def encode_chunk(self, docs: Sequence[Any]) -> tuple[list[np.ndarray], dict[str, Any]]:
        """Token arrays (FIM layout + EOS) of ``docs`` and their statistics."""
        s = self.settings
        stats: dict[str, Any] = {
            "docs": 0,
            "tokens": 0,
            "chars": 0,
            "fim_units": 0,
            "fim_psm": 0,
            "fim_spm": 0,
            "fim_tokens": 0,
            "file_split_failed": 0,
            "docs_longer_than_seq_len": 0,
            "languages": {},
        }
        pieces: list[str] = []
        plan = []  # per document: list of (layout, languages) per unit
        for doc in docs:
            units = []
            for uid, text, langs in self._units(doc, stats):
                split = fim.fim_split(
                    text, uid, fim_rate=s.fim_rate, spm_rate=s.spm_rate, seed=s.seed
                )
                layout = []
                for piece, sentinel in fim.fim_layout(split):
                    if sentinel:
                        layout.append(-self.sentinel_ids[piece] - 1)
                    elif self.newline_cuts_exact:
                        for segment in cut_at_newlines(piece, MAX_SEGMENT_CHARS):
                            layout.append(len(pieces))
                            pieces.append(segment)
                    else:
                        layout.append(len(pieces))
                        pieces.append(piece)
                units.append((split.mode, layout, langs))
            plan.append(units)
            stats["chars"] += len(doc.text)
        dt = self.dtype
        piece_ids: list[np.ndarray] = []
        i = 0
        while i < len(pieces):  # sub-batches: a tokenizers Encoding costs ~0.5 KB per token
            j, size = i, 0
            while j < len(pieces) and (j == i or size + len(pieces[j]) <= ENCODE_BATCH_CHARS):
                size += len(pieces[j])
                j += 1
            encodings = self.tok.encode_batch_fast(pieces[i:j], add_special_tokens=False)
            piece_ids += [np.asarray(e.ids, dtype=dt) for e in encodings]
            del encodings
            i = j
        single = {i: np.asarray([i], dtype=dt) for i in self.sentinel_ids.values()}
        out = []
        langs_tokens: dict[str, float] = stats["languages"]
        for units in plan:
            parts: list[np.ndarray] = []
            for mode, layout, langs in units:
                unit = [single[-ref - 1] if ref < 0 else piece_ids[ref] for ref in layout]
                n_unit = sum(int(a.size) for a in unit)
                stats["fim_units"] += 1
                if mode != fim.NONE:
                    stats["fim_psm" if mode == fim.PSM else "fim_spm"] += 1
                    stats["fim_tokens"] += n_unit
                _add_languages(langs_tokens, langs, n_unit)
                parts += unit
            parts.append(single[self.eos_id])
            _add_languages(langs_tokens, units[-1][2], 1)
            arr = np.concatenate(parts)
            if arr.size > s.seq_len:
                stats["docs_longer_than_seq_len"] += 1
            stats["docs"] += 1
            stats["tokens"] += int(arr.size)
            out.append(arr)
        return out, stats


def _add_languages(acc: dict[str, float], weights: dict[str, float], n: int) -> None:
    for lang, w in weights.items():
        acc[lang] = acc.get(lang, 0.0) + n * w


# --- worker side -------------------------------------------------------------------------------

_ENCODER: Encoder | None = None


def _worker_init(settings_json: str, single_threaded: bool) -> None:
    global _ENCODER
    if single_threaded:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _ENCODER = Encoder(_settings_from_json(settings_json))


def _settings_from_json(text: str) -> TokenizeSettings:
    d = json.loads(text)
    d["corpora"] = [CorpusSpec(**c) for c in d["corpora"]]
    return TokenizeSettings(**d)


def shard_prefix(out: Path, index: int, chunk: Chunk) -> Path:
    return out / "shards" / chunk.corpus / f"{index:06d}"


ENCODE_BATCH_CHARS = 1 << 20  # documents are encoded in batches of about this many characters


def _merge_stats(acc: dict[str, Any], st: dict[str, Any]) -> None:
    for k, v in st.items():
        if k == "languages":
            for lang, n in v.items():
                acc["languages"][lang] = acc["languages"].get(lang, 0.0) + n
        else:
            acc[k] = acc.get(k, 0) + v


def process_chunk(task: tuple[int, Chunk, str]) -> dict[str, Any]:
    """Tokenize one chunk and write its shard and stats (the stats file last).

    Documents stream through in batches, so memory stays bounded for a huge JSONL or Posts.xml.
    """
    index, chunk, out = task
    encoder = _ENCODER
    assert encoder is not None
    read_stats = ReadStats()
    stats: dict[str, Any] = {"languages": {}, "bytes": 0}

    def arrays():
        batch: list[Any] = []
        size = 0
        for doc in read_chunk(chunk, read_stats):
            batch.append(doc)
            size += len(doc.text)
            stats["bytes"] += len(doc.text.encode("utf-8"))
            if size >= ENCODE_BATCH_CHARS:
                arrs, st = encoder.encode_chunk(batch)
                _merge_stats(stats, st)
                yield from arrs
                batch, size = [], 0
        if batch:
            arrs, st = encoder.encode_chunk(batch)
            _merge_stats(stats, st)
            yield from arrs

    prefix = shard_prefix(Path(out), index, chunk)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    write_shard(prefix, arrays(), encoder.dtype)
    for key in ("docs", "tokens", "chars", "fim_units", "fim_psm", "fim_spm", "fim_tokens"):
        stats.setdefault(key, 0)
    stats.setdefault("file_split_failed", 0)
    stats.setdefault("docs_longer_than_seq_len", 0)
    stats["skipped"] = read_stats.skipped
    stats["languages"] = {k: round(v, 3) for k, v in sorted(stats["languages"].items())}
    stats.update(
        index=index,
        corpus=chunk.corpus,
        source=chunk.path,
        part=chunk.part,
        rows=[chunk.start, chunk.stop],
    )
    tmp = Path(f"{prefix}.json.tmp")
    tmp.write_text(json.dumps(stats, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, Path(f"{prefix}.json"))
    return stats


# --- driver ------------------------------------------------------------------------------------


def _check_run_file(out: Path, run: dict[str, Any]) -> None:
    path = out / "run.json"
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old != run:
            diff = sorted(k for k in set(old) | set(run) if old.get(k) != run.get(k))
            raise TokenizeError(
                f"{out} holds a run with other settings ({', '.join(diff)}); "
                "use a new --out directory or delete it"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _copy_tokenizer(src: Path, dest: Path) -> None:
    """Keep the tokenizer next to its tokens: training exports it with the model by default."""
    import shutil

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for item in sorted(src.iterdir()):
        if item.is_file():
            shutil.copy2(item, dest / item.name)


def run_tokenize(
    settings: TokenizeSettings,
    out: Path,
    *,
    workers: int = 1,
    progress: Callable[[int, int, dict[str, Any] | None], None] | None = None,
) -> dict[str, Any]:
    """Tokenize all corpora into ``out``; returns the report (also written as report.json)."""
    if settings.fim_unit not in FIM_UNITS:
        raise TokenizeError(f"--fim-unit must be one of {FIM_UNITS}")
    if settings.seq_len < 1:
        raise TokenizeError("--seq-len must be positive")
    if not 0 <= settings.fim_rate <= 1 or not 0 <= settings.spm_rate <= 1:
        raise TokenizeError("--fim-rate and --spm-rate must lie in [0, 1]")
    names = [c.name for c in settings.corpora]
    if len(set(names)) != len(names):
        raise TokenizeError(f"corpus names must be unique, got {names}")
    encoder = Encoder(settings)  # validates the tokenizer early
    chunks: list[Chunk] = []
    try:
        for c in settings.corpora:
            chunks += list_chunks(c.name, c.kind, Path(c.path))
    except CorpusError as exc:
        raise TokenizeError(str(exc)) from exc
    run = {
        **json.loads(json.dumps(asdict(settings))),
        "tokenizer_sha256_16": tokenizer_fingerprint(Path(settings.tokenizer)),
        "chunks": [[c.corpus, c.kind, c.path, c.part, c.start, c.stop] for c in chunks],
        "format": "megatron-mmap-v1",
    }
    _check_run_file(out, run)
    for tmp in out.glob("shards/*/*.tmp"):
        tmp.unlink()
    todo = []
    done_stats: dict[int, dict[str, Any]] = {}
    for i, ch in enumerate(chunks):
        stats_path = Path(f"{shard_prefix(out, i, ch)}.json")
        if stats_path.exists():
            done_stats[i] = json.loads(stats_path.read_text(encoding="utf-8"))
        else:
            todo.append((i, ch, str(out)))
    if progress:
        progress(len(done_stats), len(chunks), None)
    settings_json = json.dumps(asdict(settings))
    if workers <= 1 or len(todo) <= 1:
        global _ENCODER
        _ENCODER = encoder
        for task in todo:
            st = process_chunk(task)
            done_stats[st["index"]] = st
            if progress:
                progress(len(done_stats), len(chunks), st)
    else:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with ctx.Pool(
            processes=min(workers, len(todo)),
            initializer=_worker_init,
            initargs=(settings_json, True),
        ) as pool:
            for st in pool.imap_unordered(process_chunk, todo):
                done_stats[st["index"]] = st
                if progress:
                    progress(len(done_stats), len(chunks), st)
    ordered = [done_stats[i] for i in range(len(chunks))]
    manifest = {
        "format": "megatron-mmap-v1",
        "dtype": encoder.dtype.name,
        "vocab_size": encoder.vocab_size,
        "eos_id": encoder.eos_id,
        "seq_len": settings.seq_len,
        "shards": [
            {
                "prefix": str(shard_prefix(out, i, ch).relative_to(out)),
                "corpus": ch.corpus,
                "docs": st["docs"],
                "tokens": st["tokens"],
            }
            for i, (ch, st) in enumerate(zip(chunks, ordered, strict=True))
        ],
    }
    from repoloom.tokenize import mixing, report

    if any(c.share is not None for c in settings.corpora):
        manifest["mix"] = mixing.build_mix(out, manifest, settings)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    _copy_tokenizer(Path(settings.tokenizer), out / "tokenizer")
    rep = report.build_report(settings, manifest, ordered)
    report.write_report(rep, out)
    return rep
