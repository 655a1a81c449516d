"""Host memory of starting FSDP2 training from a checkpoint: per-process peak RSS of repoloom's
start (meta-device model, fully_shard, then each process reads only its rows of the safetensors)
against the usual start (every process loads the whole model in fp32, then shards it).

    python benchmarks/init_memory.py [--nproc 2] [--hidden 640 --layers 12]

Writes a ~100M-parameter LLaMA checkpoint in the released DeepSeek-Coder layout (bf16,
sharded safetensors) under data/init_memory/, runs each start under ``torchrun --nproc-per-node
N`` (gloo, CPU) and prints one JSON line per mode: per rank the RSS before the model, the peak
RSS (``ru_maxrss``) after it, and the fp32 bytes of the parameters the rank keeps.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MiB = 1024**2


def rss_now() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def write_checkpoint(out: Path, hidden: int, layers: int) -> Path:
    """Release-layout checkpoint (transformers-4 config keys, bf16, 2 safetensors shards)."""
    import torch
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    if (out / "model.safetensors.index.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    shape = {
        "hidden_size": hidden,
        "intermediate_size": hidden * 27 // 10,
        "num_attention_heads": hidden // 64,
        "num_key_value_heads": hidden // 64,
        "num_hidden_layers": layers,
    }
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": 32256,
        "max_position_embeddings": 16384,
        "rope_theta": 100000,
        "rope_scaling": {"type": "linear", "factor": 4.0},
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
        "bos_token_id": 32013,
        "eos_token_id": 32014,
        "torch_dtype": "bfloat16",
        **shape,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**{**shape, "vocab_size": 32256}))
    tensors = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    names = sorted(tensors)
    weight_map = {}
    for i in range(2):
        fname = f"model-{i + 1:05d}-of-00002.safetensors"
        save_file({n: tensors[n] for n in names[i::2]}, str(out / fname), {"format": "pt"})
        weight_map.update(dict.fromkeys(names[i::2], fname))
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out / "model.safetensors.index.json").write_text(json.dumps(index))
    return out


def worker(mode: str, ckpt: str, result: str) -> None:
    """One torchrun process: start the model as ``mode`` says, report memory to rank 0."""
    import torch
    import torch.distributed as dist

    from repoloom.train.config import config_from_dict
    from repoloom.train.model import build_llama_config, build_meta_model, materialize
    from repoloom.train.train import setup_distributed, shard_model

    cfg = config_from_dict({"init_from": ckpt, "device": "cpu", "seq_len": 256})
    rank, world, device = setup_distributed(cfg)
    config = build_llama_config(cfg)
    dist.barrier()
    before = rss_now()
    if mode == "sharded":  # repoloom: meta model, shard, each rank reads its rows
        model = build_meta_model(config)
        shard_model(model, device, cfg, bf16=False)
        materialize(model, cfg, config, device)
    else:  # the usual start: full fp32 model in every process, then shard
        from transformers import LlamaForCausalLM

        model = LlamaForCausalLM.from_pretrained(ckpt, config=config, dtype=torch.float32)
        shard_model(model, device, cfg, bf16=False)
    local = sum(
        (p.to_local() if hasattr(p, "to_local") else p).numel() * 4 for p in model.parameters()
    )
    total = sum(p.numel() for p in model.parameters())
    row = {"rank": rank, "rss_before": before, "peak": peak_rss(), "local_fp32": local}
    rows: list[dict] = [None] * world  # type: ignore[list-item]
    dist.all_gather_object(rows, row)
    if rank == 0:
        Path(result).write_text(json.dumps({"mode": mode, "params": total, "ranks": rows}))
    dist.destroy_process_group()


def run_mode(mode: str, ckpt: Path, nproc: int) -> dict:
    result = REPO / "data" / "init_memory" / f"{mode}.json"
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    cmd = [str(torchrun), "--standalone", "--nproc-per-node", str(nproc), __file__]
    cmd += ["--worker", mode, "--ckpt", str(ckpt), "--result", str(result)]
    subprocess.run(cmd, check=True, env=env, cwd=REPO)
    return json.loads(result.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=640)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--worker", choices=["sharded", "full"])
    ap.add_argument("--ckpt")
    ap.add_argument("--result")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.ckpt, args.result)
        return
    ckpt = write_checkpoint(
        REPO / "data" / "init_memory" / f"ckpt-h{args.hidden}-l{args.layers}",
        args.hidden,
        args.layers,
    )
    for mode in ("sharded", "full"):
        res = run_mode(mode, ckpt, args.nproc)
        full_fp32 = res["params"] * 4
        for r in res["ranks"]:
            growth = r["peak"] - r["rss_before"]
            print(
                json.dumps(
                    {
                        "mode": mode,
                        "params_M": round(res["params"] / 1e6, 1),
                        "rank": r["rank"],
                        "share_MiB": round(r["local_fp32"] / MiB),
                        "full_fp32_MiB": round(full_fp32 / MiB),
                        "rss_before_MiB": round(r["rss_before"] / MiB),
                        "peak_MiB": round(r["peak"] / MiB),
                        "peak_growth_MiB": round(growth / MiB),
                        "growth_over_share": round(growth / r["local_fp32"], 2),
                    }
                )
            )


if __name__ == "__main__":
    main()
