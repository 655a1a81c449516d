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


def _assert_adam_close(got: torch.Tensor, want: torch.Tensor, lr: float, steps: int) -> None:
    """Equal up to float noise, except a handful of elements: Adam's m / (sqrt(v) + eps) turns
    a near-zero gradient, whose sign depends on the order of the cross-process sum, into a step
    of up to lr, so a few elements may differ by that much (never more than 2 lr per step)."""
    diff = (got - want).abs()
    off = diff > 1e-4 + 1e-3 * want.abs()
    assert off.float().mean() < 1e-3, f"{int(off.sum())} of {off.numel()} elements differ"
    assert float(diff.max()) <= 2 * lr * steps


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
        _assert_adam_close(b[k], a[k], lr=3e-3, steps=6)
    # the sharded DCP checkpoint of step 4 resumes in ONE process (DCP reshards 2 -> 1)
    step4 = two / "checkpoints" / "step_0000004"
    assert (step4 / "rng" / "rank1.pt").exists()
    resumed = train(
        micro_config(tmp_path / "three", token_dir, max_steps=6, resume=str(step4), export=False)
    )
    assert [s for s, _ in resumed["losses"]] == [5, 6]
    np.testing.assert_allclose([v for _, v in resumed["losses"]], ref_losses[4:], rtol=2e-4)
    shutil.rmtree(two / "checkpoints")


def test_two_process_fsdp_lora_matches_one_process(
    tmp_path: Path, token_dir: Path, release_dir: Path
) -> None:
    """FSDP2 + LoRA: frozen sharded base, sharded adapter; same losses and adapter as one
    process, and the sharded checkpoint (adapter + optimizer only) resumes in one process."""
    from safetensors.torch import load_file

    lora = {"init_from": str(release_dir), "lr": 2e-2, "lora.r": 4}
    ref = train(micro_config(tmp_path / "one", token_dir, max_steps=4, **lora))
    two = tmp_path / "two"
    _torchrun(
        _overrides(two, token_dir, max_steps=4, micro_batch_size=2, save_every=2, **lora), tmp_path
    )
    records = [json.loads(x) for x in (two / "metrics.jsonl").read_text().splitlines()]
    ref_losses = [v for _, v in ref["losses"]]
    np.testing.assert_allclose([r["loss"] for r in records], ref_losses, rtol=2e-4)
    a = load_file(tmp_path / "one" / "adapter" / "adapter_model.safetensors")
    b = load_file(two / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and len(a) == 28
    for k in a:
        _assert_adam_close(b[k], a[k], lr=2e-2, steps=4)
    merged_one = load_file(tmp_path / "one" / "hf" / "model.safetensors")
    merged_two = load_file(two / "hf" / "model.safetensors")
    for k in merged_one:
        torch.testing.assert_close(merged_two[k], merged_one[k], rtol=1e-3, atol=2e-3)
    step2 = two / "checkpoints" / "step_0000002"
    resumed = train(
        micro_config(
            tmp_path / "three", token_dir, max_steps=4, resume=str(step2), export=False, **lora
        )
    )
    assert [s for s, _ in resumed["losses"]] == [3, 4]
    np.testing.assert_allclose([v for _, v in resumed["losses"]], ref_losses[2:], rtol=2e-4)
