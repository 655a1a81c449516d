"""Local transformers causal LM (any HF model directory, including repoloom's exports): the
batch side of :class:`repoloom.inference.local.LocalEngine` with evaluation's defaults."""

from __future__ import annotations

from repoloom.inference.local import LocalEngine


class HFBackend(LocalEngine):
    """``generate(requests)`` on a local model: CUDA and bfloat16 when available, else CPU and
    float32; ``batch_size`` rows per ``generate`` call; ``seed`` seeds each call."""

    name = "hf"

    def __init__(
        self,
        path: str,
        *,
        device: str | None = None,
        batch_size: int = 8,
        dtype: str | None = None,
        seed: int = 0,
    ) -> None:
        import torch

        self.torch = torch
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype is None:
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        super().__init__(
            path, device=device, dtype=dtype, max_batch=batch_size, seed=seed, start_worker=False
        )
        self.batch_size = self.max_batch
        self.tok = self.tokenizer  # the name heldout's line losses use
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
