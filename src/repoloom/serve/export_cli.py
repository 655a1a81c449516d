"""``repoloom export gguf``: a llama.cpp file from a trained (or released) checkpoint."""

from __future__ import annotations

import argparse
import json

from repoloom.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export a checkpoint for another runtime (GGUF)")
    formats = p.add_subparsers(dest="format", metavar="FORMAT", required=True)
    g = formats.add_parser(
        "gguf",
        help="llama.cpp GGUF (llama-server, llama.vscode, Ollama, LM Studio)",
        description="Write a GGUF file for llama.cpp from a LLaMA checkpoint directory "
        "(RUN_DIR/hf or a released DeepSeek-Coder checkpoint). q4_k_m uses llama.cpp's own "
        "quantizer (llama-cpp-python).",
    )
    g.add_argument("model_dir", help="Hugging Face model directory (config.json, safetensors)")
    g.add_argument("--out", required=True, help="output .gguf file")
    g.add_argument("--outtype", default="f16", choices=["f32", "f16", "q8_0", "q4_k_m"])
    g.add_argument("--name", help="general.name in the file (default: the directory name)")
    g.set_defaults(func=cmd_export_gguf)


def cmd_export_gguf(args: argparse.Namespace) -> int:
    from repoloom.serve.export_gguf import GGUFExportError, export_gguf

    try:
        summary = export_gguf(args.model_dir, args.out, args.outtype, args.name)
    except GGUFExportError as exc:
        raise UserError(str(exc)) from exc
    print(json.dumps(summary))
    return 0
