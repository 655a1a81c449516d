"""Long-context stage from an HF checkpoint, `repoloom ppl-by-length`, and the CLI surface."""

from __future__ import annotations

import json
from pathlib import Path

from repoloom.cli import main
from repoloom.train.train import train
from tests.train.helpers import micro_config


def test_cli_trains_then_longctx_then_ppl_by_length(tmp_path: Path, token_dir: Path) -> None:
    base = tmp_path / "base"
    rc = main(
        [
            "train",
            "--config",
            "configs/train/tiny.yaml",
            "model=micro",
            f"data={token_dir}",
            f"out={base}",
            "max_steps=3",
            "seq_len=32",
            "micro_batch_size=2",
            "progress=false",
            "tensorboard=false",
            "warmup_steps=1",
        ]
    )
    assert rc == 0
    assert [json.loads(x)["step"] for x in (base / "metrics.jsonl").read_text().splitlines()] == [3]
    assert (base / "hf" / "model.safetensors").exists()

    # long-context stage: start from the HF export, RoPE linear x4, base 1e5, 4x the length
    longctx = micro_config(
        tmp_path / "long",
        token_dir,
        init_from=str(base / "hf"),
        rope_theta=1e5,
        rope_scaling_factor=4.0,
        max_position_embeddings=128,
        seq_len=128,
        max_steps=2,
        micro_batch_size=1,
    )
    summary = train(longctx)
    cfg = json.loads((tmp_path / "long" / "hf" / "config.json").read_text())
    assert cfg["rope_parameters"] == {"rope_type": "linear", "factor": 4.0, "rope_theta": 100000.0}
    assert cfg["max_position_embeddings"] == 128
    assert summary["steps"] == 2
    # it really starts from the checkpoint: the built model holds the exported weights
    import torch
    from safetensors.torch import load_file

    from repoloom.train.model import build_llama_config, build_model

    model = build_model(longctx, build_llama_config(longctx))
    assert model.config.rope_parameters["factor"] == 4.0
    saved = load_file(base / "hf" / "model.safetensors")
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, saved[name]), name

    out = tmp_path / "ppl" / "ppl.json"
    rc = main(
        [
            "eval",
            "ppl-by-length",
            "--model",
            str(base / "hf"),
            "--model",
            str(tmp_path / "long" / "hf"),
            "--data",
            str(token_dir),
            "--seq-len",
            "128",
            "--samples",
            "2",
            "--bucket",
            "32",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["samples"] == 2 and len(result["models"]) == 2
    for buckets in result["models"].values():
        assert [b["start"] for b in buckets] == [0, 32, 64, 96]
        assert all(b["ppl"] > 1 for b in buckets)
    assert out.with_suffix(".png").stat().st_size > 1000


def test_cli_reports_user_errors(tmp_path: Path, capsys) -> None:
    assert main(["train", "--config", "configs/train/tiny.yaml", "max_stpes=3"]) == 2
    assert "max_stpes: unknown setting" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert (
        main(
            [
                "train",
                "--config",
                "configs/train/tiny.yaml",
                f"data={tmp_path / 'x'}",
                f"out={tmp_path / 'o'}",
                "model=micro",
                "progress=false",
            ]
        )
        == 2
    )
    assert "not found" in capsys.readouterr().err
    assert main(["ppl-by-length", "--model", str(tmp_path), "--data", str(tmp_path)]) == 2
