from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from repoloom.tokenize.dataset import TokenStream, TokenWindowDataset
from repoloom.tokenize.pipeline import CorpusSpec, TokenizeSettings, run_tokenize

from .helpers import file_docs, stdlib_repos, write_samples

SEQ = 64


@pytest.fixture(scope="module")
def tokens(small_tokdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = write_samples(tmp_path_factory.mktemp("c"), stdlib_repos(("json",)) + file_docs(6))
    out = tmp_path_factory.mktemp("tokens")
    run_tokenize(
        TokenizeSettings(
            tokenizer=str(small_tokdir),
            seq_len=SEQ,
            corpora=[CorpusSpec("code", "samples", str(corpus))],
        ),
        out,
    )
    return out


def stream_array(path: Path) -> np.ndarray:
    s = TokenStream(path)
    return np.concatenate([sh.tokens for sh in s.shards]).astype(np.int64)


def collect(ds: TokenWindowDataset, workers: int, batch: int) -> list[int]:
    loader = DataLoader(ds, batch_size=batch, num_workers=workers)
    return [int(i) for b in loader for i in b["index"]]


def test_windows_are_stream_slices(tokens: Path) -> None:
    ds = TokenWindowDataset(tokens, SEQ)
    full = stream_array(tokens)
    assert ds.num_samples == (full.size - 1) // SEQ > 20
    for g in (0, 1, ds.num_samples // 2, ds.num_samples - 1):
        s = ds.sample(g)
        assert s["input_ids"].dtype == torch.long and s["input_ids"].shape == (SEQ,)
        window = full[g * SEQ : g * SEQ + SEQ + 1]
        assert s["input_ids"].tolist() == window[:-1].tolist()
        assert s["labels"].tolist() == window[1:].tolist()
    with pytest.raises(IndexError):
        ds.sample(ds.num_samples)


def test_two_ranks_two_workers_disjoint_union(tokens: Path) -> None:
    seen = []
    for rank in range(2):
        ds = TokenWindowDataset(tokens, SEQ, rank=rank, world_size=2, batch_size=3)
        got = collect(ds, workers=2, batch=3)
        assert got == list(ds.rank_indices())  # in order, whatever the worker count
        assert len(got) == len(ds)
        seen.append(got)
    assert set(seen[0]).isdisjoint(seen[1])
    n = TokenWindowDataset(tokens, SEQ).num_samples
    assert sorted(seen[0] + seen[1]) == list(range(n))
    # the union of the windows' tokens is the whole stream (minus the unused tail)
    full = stream_array(tokens)
    ds = TokenWindowDataset(tokens, SEQ)
    rebuilt = torch.cat([ds.sample(g)["input_ids"] for g in sorted(seen[0] + seen[1])])
    assert rebuilt.tolist() == full[: n * SEQ].tolist()


def test_resume_at_exact_sample_index(tokens: Path) -> None:
    world, batch, steps = 2, 2, 3
    full_run = [
        collect(TokenWindowDataset(tokens, SEQ, r, world, 0, batch), 2, batch) for r in range(world)
    ]
    consumed = steps * batch * world
    resumed = [
        collect(TokenWindowDataset(tokens, SEQ, r, world, consumed, batch), 2, batch)
        for r in range(world)
    ]
    for r in range(world):
        assert resumed[r] == full_run[r][steps * batch :]


def test_bad_arguments(tokens: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        TokenWindowDataset(tokens, SEQ, rank=2, world_size=2)
    with pytest.raises(FileNotFoundError):
        TokenWindowDataset(tmp_path, SEQ)


def test_fragment_fim_in_the_dataset(tokens: Path, small_tokdir: Path) -> None:
    from repoloom.tokenize.fim import FragmentFim

    plain = TokenWindowDataset(tokens, SEQ)
    ds = TokenWindowDataset(tokens, SEQ, fragment_fim=FragmentFim(str(small_tokdir), fim_rate=1.0))
    changed = 0
    for g in range(min(20, len(ds))):
        s = ds.sample(g)
        ok = s["labels"] != -100
        assert torch.equal(s["labels"][:-1][ok[:-1]], s["input_ids"][1:][ok[:-1]])
        changed += not torch.equal(s["input_ids"], plain.sample(g)["input_ids"])
    assert changed > 0
