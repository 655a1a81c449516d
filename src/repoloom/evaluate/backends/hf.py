"""Local transformers causal LM (any HF model directory, including repoloom's exports)."""

from __future__ import annotations

import logging

from repoloom.evaluate.backends.base import Backend, GenRequest, cut_at_stop
from repoloom.evaluate.prompts import render_deepseek_chat

log = logging.getLogger(__name__)


class HFBackend(Backend):
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
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype is None:
            dtype = "bfloat16" if self.device.startswith("cuda") else "float32"
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
        self.model.to(self.device).eval()
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.batch_size = max(1, batch_size)
        self.seed = seed

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        if getattr(self.tok, "chat_template", None):
            return self.tok.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
        user = "\n".join(m["content"] for m in messages if m["role"] == "user")
        system = next((m["content"] for m in messages if m["role"] == "system"), None)
        return render_deepseek_chat(user, system)

    def generate(self, requests: list[GenRequest]) -> list[list[str]]:
        torch = self.torch
        torch.manual_seed(self.seed)
        # Expand to one row per sample (greedy: one row, copied n times).
        rows: list[tuple[int, str, GenRequest]] = []
        for i, r in enumerate(requests):
            text = self.render_chat(r.messages) if r.messages else r.prompt
            for _ in range(r.n if r.temperature > 0 else 1):
                rows.append((i, text, r))
        outs: list[list[str]] = [[] for _ in requests]
        # Group rows with identical decoding settings into batches.
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            groups: dict[tuple, list[tuple[int, str, GenRequest]]] = {}
            for row in chunk:
                r = row[2]
                groups.setdefault((r.max_new_tokens, r.temperature, r.top_p), []).append(row)
            for (max_new, temp, top_p), grp in groups.items():
                texts = self._batch(
                    [t for _, t, _ in grp], [g[2].stop for g in grp], max_new, temp, top_p
                )
                for (i, _, _), text in zip(grp, texts, strict=True):
                    outs[i].append(text)
        for i, r in enumerate(requests):
            if r.temperature <= 0 and outs[i]:
                outs[i] = outs[i] * r.n
        return outs

    def _batch(
        self, prompts: list[str], stops: list[list[str]], max_new: int, temp: float, top_p: float
    ) -> list[str]:
        torch = self.torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        enc = self.tok(prompts, return_tensors="pt", padding=True).to(self.device)
        plen = enc["input_ids"].shape[1]
        tok = self.tok

        class StopOnStrings(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                done = []
                for row, stop in zip(input_ids, stops, strict=True):
                    tail = tok.decode(row[plen:][-48:], skip_special_tokens=False)
                    done.append(any(s and s in tail for s in stop))
                return torch.tensor(done, device=input_ids.device)

        kwargs = dict(max_new_tokens=max_new, pad_token_id=tok.pad_token_id)
        if temp > 0:
            kwargs.update(do_sample=True, temperature=temp, top_p=top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if any(stops):
            kwargs["stopping_criteria"] = StoppingCriteriaList([StopOnStrings()])
        with torch.no_grad():
            out = self.model.generate(**enc, **kwargs)
        texts = []
        for row, stop in zip(out, stops, strict=True):
            text = tok.decode(row[plen:], skip_special_tokens=True)
            texts.append(cut_at_stop(text, stop))
        return texts
