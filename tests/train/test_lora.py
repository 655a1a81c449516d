"""LoRA (peft) from a released-layout checkpoint: config keys, adapter in peft's layout equal to
the merged export, only the adapter trains, exact resume, every stage config accepts it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from repoloom.train.config import LORA_TARGETS, TrainConfig, load_config
from repoloom.train.train import train
from tests.train.helpers import micro_config

REPO = Path(__file__).resolve().parents[2]
# the key names vLLM's LoRA loader and peft's `load_peft_weights` expect
PEFT_KEY = re.compile(
    r"base_model\.model\.model\.layers\.\d+\.(self_attn|mlp)\.[a-z_]+_proj\.lora_[AB]\.weight"
)


def test_lora_keys_in_yaml_and_overrides(tmp_path: Path) -> None:
    assert not TrainConfig().lora.enabled
    cfg = load_config(None, ["init_from=ckpt", "lora.r=8"])  # lora.r alone turns it on
    assert cfg.lora.enabled and cfg.lora.r == 8
    assert cfg.lora.lora_alpha == 16.0 and cfg.lora.dropout == 0.0
    assert cfg.lora.target_modules() == list(LORA_TARGETS)
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("init_from: ckpt\nlora:\n  r: 4\n  alpha: 8\n  targets: [q, v]\n")
    cfg = load_config(yaml_file, ["lora.dropout=0.1", "lora.targets=q,v,down"])
    assert (cfg.lora.r, cfg.lora.lora_alpha, cfg.lora.dropout) == (4, 8.0, 0.1)
    assert cfg.lora.target_modules() == ["q_proj", "v_proj", "down_proj"]
    for bad, message in [
        (["lora.r=8"], "needs init_from"),
        (["init_from=x", "lora.r=8", "lora.targets=q,qkv"], "unknown projection 'qkv'"),
        (["lora.rank=8"], "lora.rank: unknown setting"),
        (["init_from=x", "lora.r=8", "lora.dropout=1.5"], "lora.dropout"),
        (["lora.r=-1"], "lora.r must be >= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            load_config(None, bad)


def test_lora_trains_the_adapter_only_and_exports_peft_and_merged(
    release_dir: Path, token_dir: Path, tmp_path: Path
) -> None:
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    run = tmp_path / "run"
    cfg = micro_config(
        run, token_dir, init_from=str(release_dir), max_steps=20, lr=5e-2, **{"lora.r": 4}
    )
    train(cfg)

    # the checkpoint holds the adapter, not the frozen base
    import torch.distributed.checkpoint as dcp

    meta = dcp.FileSystemReader(str(run / "checkpoints" / "step_0000020")).read_metadata()
    model_keys = [k for k in meta.state_dict_metadata if k.startswith("model.")]
    assert model_keys and all(".lora_" in k for k in model_keys), model_keys[:3]

    # RUN_DIR/adapter is peft's layout: config + safetensors with peft's key names
    adapter_cfg = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert adapter_cfg["peft_type"] == "LORA" and adapter_cfg["r"] == 4
    assert adapter_cfg["lora_alpha"] == 8 and adapter_cfg["bias"] == "none"
    assert adapter_cfg["target_modules"] == list(LORA_TARGETS)
    assert adapter_cfg["base_model_name_or_path"] == str(release_dir)
    # what vLLM's PEFTHelper refuses: bias other than none, DoRA, modules_to_save
    assert adapter_cfg["use_dora"] is False and adapter_cfg["modules_to_save"] is None
    tensors = load_file(run / "adapter" / "adapter_model.safetensors")
    assert len(tensors) == 2 * 7 * 2  # A and B x 7 projections x 2 layers
    assert all(PEFT_KEY.fullmatch(k) for k in tensors), sorted(tensors)[:3]

    # the frozen base did not move: untargeted tensors of the merged export equal the release's
    merged = load_file(run / "hf" / "model.safetensors")
    base_sd = {}
    for shard in release_dir.glob("model-*.safetensors"):
        base_sd.update(load_file(shard))
    assert merged.keys() == base_sd.keys()
    for name in ("model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"):
        assert torch.equal(merged[name], base_sd[name].float()), name
    assert not torch.equal(
        merged["model.layers.0.self_attn.q_proj.weight"],
        base_sd["model.layers.0.self_attn.q_proj.weight"].float(),
    )

    # peft on the release base == the merged export, and != the base alone (peft adapts `base`
    # in place: the base logits are taken first)
    ids = torch.tensor([[5, 17, 300, 41, 99, 7, 250, 12]])
    base = AutoModelForCausalLM.from_pretrained(release_dir, dtype=torch.float32)
    with torch.no_grad():
        base_logits = base(ids).logits
        peft_logits = PeftModel.from_pretrained(base, run / "adapter").eval()(ids).logits
        hf_logits = AutoModelForCausalLM.from_pretrained(run / "hf")(ids).logits
    torch.testing.assert_close(peft_logits, hf_logits, rtol=1e-4, atol=1e-4)
    assert (peft_logits - base_logits).abs().max() > 1e-3

    # the adapter learnt the training stream: lower loss than the base on its windows (the
    # base's embeddings and head are random and frozen, so the gain is small but systematic)
    from itertools import islice

    from repoloom.tokenize.dataset import TokenWindowDataset

    windows = torch.stack([w["input_ids"] for w in islice(TokenWindowDataset(token_dir, 32), 32)])
    adapted = AutoModelForCausalLM.from_pretrained(run / "hf")

    def nll(model: torch.nn.Module) -> float:
        with torch.no_grad():
            logits = model(windows[:, :-1]).logits
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten())

    fresh_base = AutoModelForCausalLM.from_pretrained(release_dir, dtype=torch.float32)
    assert nll(adapted) < nll(fresh_base) - 0.01, (nll(adapted), nll(fresh_base))


def test_lora_resume_is_exact(release_dir: Path, token_dir: Path, tmp_path: Path) -> None:
    # dropout on: the RNG state is part of what resume must restore
    kw = {"init_from": str(release_dir), "max_steps": 6, "export": False, "lr": 1e-2}
    lora = {"lora.r": 4, "lora.dropout": 0.1, "lora.targets": ["q", "v", "down"]}
    full = train(micro_config(tmp_path / "full", token_dir, **kw, **lora))
    first = train(micro_config(tmp_path / "split", token_dir, stop_at_step=2, **kw, **lora))
    second = train(micro_config(tmp_path / "split", token_dir, **kw, **lora))
    resumed = first["losses"] + second["losses"]
    assert [s for s, _ in resumed] == [s for s, _ in full["losses"]]
    np.testing.assert_array_equal([v for _, v in resumed], [v for _, v in full["losses"]])
    # a checkpoint holds the adapter only: another adapter shape cannot resume from it
    with pytest.raises(ValueError, match="trained with lora r=4"):
        train(micro_config(tmp_path / "split", token_dir, **{**kw, "max_steps": 8, "lora.r": 8}))


@pytest.mark.parametrize("stage_config", ["tiny", "longctx", "sft", "adapt"])
def test_every_stage_config_accepts_lora(
    stage_config: str, release_dir: Path, token_dir: Path, tmp_path: Path
) -> None:
    data, extra = str(token_dir), []
    if stage_config == "sft":
        data = str(tmp_path / "sft.jsonl")
        rows = [{"instruction": f"add {i} and {i + 1}", "output": f"{2 * i + 1}"} for i in range(8)]
        Path(data).write_text("".join(json.dumps(r) + "\n" for r in rows))
        extra = ["system_prompt=You write code."]  # the default prompt alone fills 64 tokens
    small = [
        f"init_from={release_dir}",
        f"data={data}",
        f"out={tmp_path / 'run'}",
        "lora.r=4",
        "seq_len=64",
        "max_position_embeddings=null",
        "micro_batch_size=2",
        "grad_accum_steps=1",
        "max_steps=2",
        "warmup_steps=1",
        "save_every=0",
        "compile=false",
        "progress=false",
        "tensorboard=false",
        "export_dtype=float32",
        *extra,
    ]
    cfg = load_config(REPO / "configs" / "train" / f"{stage_config}.yaml", small)
    assert cfg.lora.enabled
    summary = train(cfg)
    assert summary["steps"] == 2 and np.isfinite(summary["final_loss"])
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").exists()
    assert (tmp_path / "run" / "hf" / "model.safetensors").exists()


@pytest.mark.heavy  # three training processes: 1-2 minutes on the 2-core machine
def test_lora_resume_after_kill_is_bit_exact(
    release_dir: Path, token_dir: Path, tmp_path: Path
) -> None:
    """A LoRA run killed with SIGKILL mid-run resumes to the uninterrupted run's exact losses."""
    import os
    import signal
    import subprocess
    import sys
    import time

    def command(out: Path) -> list[str]:
        args = [
            f"init_from={release_dir}",
            f"data={token_dir}",
            f"out={out}",
            "lora.r=4",
            "lora.dropout=0.1",
            "model=micro",
            "seq_len=32",
            "micro_batch_size=4",
            "max_steps=12",
            "lr=1e-2",
            "warmup_steps=2",
            "log_every=1",
            "save_every=1",
            "progress=false",
            "tensorboard=false",
            "export=false",
        ]
        return [sys.executable, "-m", "repoloom.train.cli", *args]

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full = subprocess.run(command(tmp_path / "full"), env=env, capture_output=True, timeout=300)
    assert full.returncode == 0, full.stderr[-3000:]

    run = tmp_path / "killed"
    proc = subprocess.Popen(command(run), env=env, stderr=subprocess.DEVNULL)
    latest = run / "checkpoints" / "latest"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if latest.exists() and latest.read_text().strip() >= "step_0000004":
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = len((run / "metrics.jsonl").read_text().splitlines())
    assert 4 <= killed_at < 12
    again = subprocess.run(command(run), env=env, capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]

    def losses(out: Path) -> list[tuple[int, float]]:
        rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
        return [(r["step"], r["loss"]) for r in rows]

    assert losses(run) == losses(tmp_path / "full")  # bit-exact, steps 1..12
