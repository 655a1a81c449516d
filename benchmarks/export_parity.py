"""GGUF export parity: llama.cpp (llama-cpp-python) against transformers on the same checkpoint.

A random LLaMA with the release vocabulary (32256 rows, imported from the release GGUF) and the
release's long-context RoPE (base 1e5, linear x4) is written by the training export
(``RUN_DIR/hf``), exported to GGUF as f32, f16, q8_0 and q4_k_m, and each file is compared with
transformers: tokenization of the release's 45 non-empty test vectors, greedy continuations
(free-running first mismatch, teacher-forced top-1 agreement; see repoloom.serve.gguf_parity),
file size and export time.

    python benchmarks/export_parity.py [--release-gguf PATH] [--hidden 256] [--steps 32]

hidden and intermediate sizes are multiples of 256 so that q4_k_m quantizes every matrix as
k-quants (llama.cpp falls back to other types for rows that are not whole 256-blocks).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from repoloom.serve import gguf_parity
from repoloom.serve.export_gguf import export_gguf
from repoloom.testing import exported_checkpoint

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_GGUF = (
    ROOT.parent / "shared/reference/deepseek-coder-tokenizer/ggml-vocab-deepseek-coder.gguf"
)
PROMPTS = [
    "def quick_sort(arr):\n    if len(arr) <= 1:\n        return arr\n",
    "import os\nimport sys\n\n\nclass Config:\n    def __init__(self, path):\n",
    '#include <stdio.h>\nint main(void) {\n    printf("hello\\n");\n',
    "function sum(xs) {\n  return xs.reduce((a, b) => a + b, 0);\n}\n",
]


def release_vectors(gguf_path: Path) -> list[tuple[str, list[int]]]:
    texts = Path(f"{gguf_path}.inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    ids = Path(f"{gguf_path}.out").read_text(encoding="utf-8").split("\n")
    return [(t, [int(x) for x in i.split()]) for t, i in zip(texts, ids, strict=True) if t != ""]


def train_briefly(hf_dir: Path, tok, out: Path, steps: int, seq_len: int = 128) -> Path:
    """A few hundred AdamW steps on this repository's own Python sources, so that the logits are
    peaked like a trained model's (a random model's are nearly flat, the worst case for
    quantization); exported again through the training export."""
    import torch
    from transformers import AutoModelForCausalLM

    from repoloom.train.checkpoint import export_hf

    text = "\n".join(p.read_text() for p in sorted((ROOT / "src" / "repoloom").rglob("*.py")))
    ids = torch.tensor(tok.encode(text, add_special_tokens=False))
    model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    for step in range(steps):
        starts = torch.randint(0, len(ids) - seq_len - 1, (8,), generator=gen)
        batch = torch.stack([ids[s : s + seq_len] for s in starts])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step % 50 == 0 or step == steps - 1:
            print(f"train step {step}: loss {loss.item():.3f}", flush=True)
    model.eval()
    export_hf(out, model, model.config, "float32", tok)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--release-gguf", type=Path, default=DEFAULT_GGUF)
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "export_parity")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--init-std", type=float, default=0.02)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--outtypes", default="f32,f16,q8_0,q4_k_m")
    ap.add_argument(
        "--train-steps", type=int, default=0, help="train briefly first (0: random weights)"
    )
    args = ap.parse_args()

    from transformers import AutoTokenizer

    from repoloom.tokenize.gguf_import import import_gguf

    args.out.mkdir(parents=True, exist_ok=True)
    import_gguf(args.release_gguf, args.out / "release_tok")
    tok = AutoTokenizer.from_pretrained(str(args.out / "release_tok"))
    hf_dir = exported_checkpoint(
        args.out / "hf",
        tok,
        vocab_size=32256,
        hidden_size=args.hidden,
        intermediate_size=args.ffn,
        num_layers=args.layers,
        num_heads=4,
        num_kv_heads=2,
        init_std=args.init_std,
    )
    if args.train_steps:
        hf_dir = train_briefly(hf_dir, tok, args.out / "hf_trained", args.train_steps)
    prompts = [tok.encode(p) for p in PROMPTS]
    reference = gguf_parity.greedy_transformers(hf_dir, prompts, args.steps)
    cases = release_vectors(args.release_gguf)

    rows = []
    for outtype in args.outtypes.split(","):
        path = args.out / f"model-{outtype}.gguf"
        start = time.perf_counter()
        export_gguf(hf_dir, path, outtype)
        seconds = time.perf_counter() - start
        parity = gguf_parity.measure(hf_dir, path, prompts, args.steps, reference)
        got = gguf_parity.tokenize_llama_cpp(path, [t for t, _ in cases])
        rows.append(
            {
                "outtype": outtype,
                "mb": round(path.stat().st_size / 1e6, 2),
                "export_s": round(seconds, 2),
                "vectors_equal": f"{sum(g == w for g, (_, w) in zip(got, cases, strict=True))}"
                f"/{len(cases)}",
                "first_mismatch": parity.first_mismatch,
                "forced_agreement": round(parity.forced_agreement, 4),
                "logit_rel_error": float(f"{parity.logit_rel_error:.2g}"),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    # Control: the same f32 export with the RoPE scaling left out of the metadata must fail the
    # comparison, or the comparison would not see a wrong context/RoPE export.
    control_dir = args.out / "hf_no_rope_scaling"
    shutil.copytree(hf_dir, control_dir, dirs_exist_ok=True)
    config = json.loads((control_dir / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "default", "rope_theta": 1e5}
    config["rope_scaling"] = None
    (control_dir / "config.json").write_text(json.dumps(config))
    path = args.out / "control-no-rope-scaling.gguf"
    export_gguf(control_dir, path, "f32")
    parity = gguf_parity.measure(hf_dir, path, prompts, args.steps, reference)
    rows.append(
        {
            "outtype": "f32, control: RoPE factor dropped",
            "mb": round(path.stat().st_size / 1e6, 2),
            "export_s": "",
            "vectors_equal": "",
            "first_mismatch": parity.first_mismatch,
            "forced_agreement": round(parity.forced_agreement, 4),
            "logit_rel_error": float(f"{parity.logit_rel_error:.2g}"),
        }
    )
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    print(
        "| outtype | MB | export s | release vectors | free-running first mismatch "
        f"(of {args.steps}) | teacher-forced top-1 | logit rel. RMS error |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['outtype']} | {r['mb']} | {r['export_s']} | {r['vectors_equal']} | "
            f"{r['first_mismatch']} | {r['forced_agreement']:.1%} | {r['logit_rel_error']} |"
        )


if __name__ == "__main__":
    main()
