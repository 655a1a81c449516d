"""Two CPU processes under torchrun (gloo, FSDP2 fully_shard) against one process with the same
global batch: same losses, same exported weights; resume works under FSDP too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from repoloom.train.train import train
from tests.train.helpers import micro_config

pytestmark = pytest.mark.slow


def _torchrun(args: list[str], cwd: Path) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed beside the interpreter")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "repoloom.cli",
            "train",
            *args,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]


def _overrides(out: Path, data: Path, **kw: object) -> list[str]:
    cfg = micro_config(out, data, **kw)
    keys = (
        "model",
        "data",
        "out",
        "seq_len",
        "micro_batch_size",
        "max_steps",
        "lr",
        "warmup_steps",
        "log_every",
        "progress",
        "tensorboard",
        "export_dtype",
        "seed",
    )
    extra = [f"{k}={v}" for k, v in kw.items() if k not in keys]
    return [f"{k}={getattr(cfg, k)}" for k in keys] + extra


def test_two_process_fsdp_matches_one_process(tmp_path: Path, token_dir: Path) -> None:
    ref = train(micro_config(tmp_path / "one", token_dir, max_steps=6, micro_batch_size=4))
    two = tmp_path / "two"
    # 2 processes x micro-batch 2 = the same global batch of 4 windows
    _torchrun(_overrides(two, token_dir, max_steps=6, micro_batch_size=2, save_every=4), tmp_path)
    records = [json.loads(x) for x in (two / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    ref_losses = [v for _, v in ref["losses"]]
    np.testing.assert_allclose([r["loss"] for r in records], ref_losses, rtol=2e-4)
    # the FSDP export gathers the full weights: equal to the 1-process run's
    from safetensors.torch import load_file

    a = load_file(tmp_path / "one" / "hf" / "model.safetensors")
    b = load_file(two / "hf" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-3, atol=1e-4)
    # the sharded DCP checkpoint of step 4 resumes in ONE process (DCP reshards 2 -> 1)
    step4 = two / "checkpoints" / "step_0000004"
    assert (step4 / "rng" / "rank1.pt").exists()
    resumed = train(
        micro_config(tmp_path / "three", token_dir, max_steps=6, resume=str(step4), export=False)
    )
    assert [s for s, _ in resumed["losses"]] == [5, 6]
    np.testing.assert_allclose([v for _, v in resumed["losses"]], ref_losses[4:], rtol=2e-4)
    shutil.rmtree(two / "checkpoints")
