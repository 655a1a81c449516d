#!/usr/bin/env bash
# GPU training benchmark: DeepSeek-Coder 1.3B at 4K context, ~50 steps on one GPU, tokens/s + MFU.
#
#   bash benchmarks/gpu_train.sh [OUT_DIR]
#
# Needs only torch (2.11+) and transformers (5.17+) beside the repository (PYTHONPATH=src, no
# install). Trains on synthetic uniform-random tokens (throughput does not depend on the text),
# bf16 autocast with fp32 master weights, torch.compile per decoder layer. If the first
# configuration fails (e.g. out of memory) it retries with activation checkpointing.
# Knobs (environment): MODEL SEQ MB ACCUM STEPS COMPILE AC PYTHON. CPU check with a tiny shape:
#   MODEL=tiny SEQ=128 MB=2 ACCUM=2 STEPS=12 COMPILE=false bash benchmarks/gpu_train.sh /tmp/g
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-/tmp/repoloom-gpu-train}}
MODEL=${MODEL:-deepseek-coder-1.3b}
SEQ=${SEQ:-4096}
MB=${MB:-2}
ACCUM=${ACCUM:-8}
STEPS=${STEPS:-50}
COMPILE=${COMPILE:-true}
AC=${AC:-false}
PY=${PYTHON:-python}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"

$PY - <<PYEOF | tee "$OUT/env.txt"
import platform, torch, transformers
print("python", platform.python_version(), "torch", torch.__version__,
      "transformers", transformers.__version__)
print("device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
PYEOF

# synthetic token shard: enough windows for every step, uniform over the model's vocabulary
$PY - <<PYEOF
import numpy as np
from pathlib import Path
from repoloom.train.config import MODEL_REGISTRY
from repoloom.train.data import write_token_shard
n = (${STEPS} + 2) * ${MB} * ${ACCUM} * (${SEQ} + 1) + 1
vocab = MODEL_REGISTRY["${MODEL}"]["vocab_size"]
write_token_shard(Path("${OUT}/tokens/shard_00000"),
                  np.random.default_rng(0).integers(2, vocab, size=n), manifest_eos_id=1)
print(f"{n} synthetic tokens in ${OUT}/tokens")
PYEOF

run() {  # $1 = activation checkpointing
  rm -rf "$OUT/run"
  $PY -m repoloom.train.cli --config configs/train/pretrain-1.3b.yaml \
    model="$MODEL" data="$OUT/tokens" out="$OUT/run" seq_len="$SEQ" micro_batch_size="$MB" \
    grad_accum_steps="$ACCUM" max_steps="$STEPS" warmup_steps=10 log_every=5 save_every=0 \
    save_final=false export=false resume=none progress=false tensorboard=false \
    compile="$COMPILE" activation_checkpointing="$1" 2>&1 | tee "$OUT/train_ac_$1.log"
  return "${PIPESTATUS[0]}"
}
USED_AC=$AC
if ! run "$AC"; then
  if [ "$AC" = "false" ]; then
    echo "first configuration failed; retrying with activation checkpointing"
    USED_AC=true
    run true
  else
    exit 1
  fi
fi

$PY - <<PYEOF | tee "$OUT/summary.json"
import json, statistics
recs = [json.loads(l) for l in open("${OUT}/run/metrics.jsonl")]
steady = [r for r in recs if r["step"] > 10] or recs  # leave out compilation and warm-up
print(json.dumps({
    "model": "${MODEL}", "seq_len": ${SEQ}, "micro_batch": ${MB}, "grad_accum": ${ACCUM},
    "steps": recs[-1]["step"], "compile": "${COMPILE}", "activation_checkpointing": "${USED_AC}",
    "tokens_per_s": statistics.median(r["tokens_per_s"] for r in steady),
    "mfu": statistics.median(r["mfu"] for r in steady),
    "peak_memory_gb": max(r["memory_gb"] for r in recs),
    "final_loss": recs[-1]["loss"],
    "env": open("${OUT}/env.txt").read().strip().splitlines(),
}, indent=2))
PYEOF
