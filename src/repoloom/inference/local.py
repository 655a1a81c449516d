"""The local model: a Hugging Face causal LM in this process, for serve and for evaluation.

Streaming (:class:`~repoloom.inference.base.Engine`, what ``repoloom serve`` and the terminal
client use): ``submit(job, emit)``. The engine runs one worker thread. Jobs wait in a bounded
queue (``max_queue``; a full queue raises :class:`Overloaded`, which the server answers with
503). The worker decodes up to ``max_batch`` sequences together (``n`` samples of a job count as
``n``): left-padded prompts, one KV cache, one forward pass per step. A sequence stops at EOS /
``<|EOT|>`` (unless ``ignore_eos``), at a stop string (cut before it, as OpenAI does), at
``max_tokens`` or at the context window; a cancelled job (client gone) is dropped at the next
step. Batching is continuous: finished rows leave the cache after each step and waiting jobs
join it (their prefilled caches stacked onto the running one, left-padded), when the cache is
the plain per-layer dynamic cache; otherwise a batch runs until all its sequences are done.

Batch (:class:`~repoloom.inference.base.Backend`, what ``eval run`` uses): ``generate(requests)``
runs transformers' ``generate`` on groups of up to ``max_batch`` rows with equal decoding
settings, seeded by ``seed`` per call, so a rerun samples the same texts.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repoloom.inference.base import (
    Backend,
    BackendError,
    Done,
    Emit,
    Engine,
    EngineClosed,
    Event,
    GenRequest,
    Handle,
    Job,
    Overloaded,
    StopChecker,
    cut_at_stop,
)
from repoloom.inference.kv_cache import join_caches, plain_dynamic_cache, select_rows
from repoloom.prompts import render_instruction

log = logging.getLogger(__name__)


@dataclass
class _Row:
    job: Job
    emit: Emit
    handle: Handle
    index: int
    generator: Any
    ids: list[int] = field(default_factory=list)
    sent: int = 0  # characters of text already emitted
    text: str = ""
    done: bool = False
    counts: dict[int, int] = field(default_factory=dict)
    checker: StopChecker = field(default_factory=lambda: StopChecker([]))


class LocalEngine(Engine, Backend):
    """A Hugging Face causal LM behind a bounded queue and a batching worker thread (started on
    the first ``submit`` when ``start_worker`` is False), and a batch ``generate``."""

    name = "local"

    def __init__(
        self,
        model_dir: str | Path,
        *,
        model_id: str | None = None,
        device: str = "cpu",
        dtype: str = "auto",
        max_batch: int = 8,
        max_queue: int = 64,
        context_window: int | None = None,
        threads: int | None = None,
        seed: int = 0,
        start_worker: bool = True,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_dir = Path(model_dir)
        if threads:
            torch.set_num_threads(threads)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        if dtype == "auto" and device == "cpu":
            torch_dtype = torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch_dtype)
        self.model.to(device).eval()
        self.device = device
        self.model_id = model_id or self.model_dir.name
        cfg_window = getattr(self.model.config, "max_position_embeddings", None) or 4096
        self.context_window = min(context_window or cfg_window, cfg_window)
        self.max_batch = max(1, max_batch)
        self.vocab = set(self.tokenizer.get_vocab())
        self.chat_template = getattr(self.tokenizer, "chat_template", None)
        self.bos_token = self.tokenizer.bos_token or ""
        probe = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        self._adds_bos = bool(probe) and probe[0] == self.tokenizer.bos_token_id
        self.eos_token = self.tokenizer.eos_token or ""
        stop_ids = {self.tokenizer.eos_token_id}
        eot = self.tokenizer.convert_tokens_to_ids("<|EOT|>")
        if isinstance(eot, int) and eot != self.tokenizer.unk_token_id:
            stop_ids.add(eot)
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(gen_eos, int):
            stop_ids.add(gen_eos)
        elif isinstance(gen_eos, list):
            stop_ids.update(gen_eos)
        self.stop_ids = {i for i in stop_ids if i is not None}
        self.pad_id = (
            self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else self.tokenizer.eos_token_id
        )
        self._queue: queue.Queue[tuple[Job, Emit, Handle]] = queue.Queue(maxsize=max(1, max_queue))
        self._lock = threading.Lock()
        self.stats = {
            "requests": 0,
            "completed": 0,
            "cancelled": 0,
            "rejected": 0,
            "tokens_generated": 0,
            "batches": 0,
            "joined": 0,  # jobs that joined a running batch
            "active_sequences": 0,
        }
        self.seed = seed
        self._stopping = threading.Event()
        self._putback: tuple[Job, Emit, Handle] | None = None
        self._thread: threading.Thread | None = None
        if start_worker:
            self._start_worker()

    def _start_worker(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._worker, name="repoloom-engine", daemon=True
            )
            self._thread.start()
            _open_engines.add(self)

    # ---- public -----------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def encode(self, text: str) -> list[int]:
        """Token ids as the model sees them: the tokenizer adds BOS (like the release tokenizer);
        a BOS already spelled at the start of ``text`` (chat templates write one) is not doubled."""
        return list(
            self.tokenizer(self._without_bos_text(text), add_special_tokens=True)["input_ids"]
        )

    def _without_bos_text(self, text: str) -> str:
        """``text`` without a leading BOS spelled as text when the tokenizer adds BOS itself: the
        release chat template writes one, and ``apply_chat_template(tokenize=True)`` (DeepSeek's
        own evaluation) encodes it once."""
        if self._adds_bos and self.bos_token and text.startswith(self.bos_token):
            return text[len(self.bos_token) :]
        return text

    def prepare(self, job: Job) -> int:
        """Tokenize the job's prompt; return the prompt length in tokens."""
        if job.prompt_ids is None:
            job.prompt_ids = self.encode(job.prompt)
        return len(job.prompt_ids)

    def submit(self, job: Job, emit: Emit) -> Handle:
        """Queue ``job``; events go to ``emit`` (called from the worker thread)."""
        if self._stopping.is_set():
            raise Overloaded("the engine is shutting down")
        self._start_worker()
        self.prepare(job)
        handle = Handle()
        try:
            self._queue.put_nowait((job, emit, handle))
        except queue.Full:
            with self._lock:
                self.stats["rejected"] += 1
            raise Overloaded(f"{self._queue.qsize()} requests are waiting") from None
        with self._lock:
            self.stats["requests"] += 1
        return handle

    def add_stop_strings(self, strings: tuple[str, ...] | list[str]) -> None:
        """Stop at these strings too when each is one token of the vocabulary (FIM family stops)."""
        for s in strings:
            if s in self.vocab:
                self.stop_ids.add(int(self.tokenizer.convert_tokens_to_ids(s)))

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    # ---- batch ------------------------------------------------------------------------------
    def generate(self, requests: list[GenRequest]) -> list[list[str]]:
        """``n`` texts per request with transformers' ``generate`` (greedy: one row, copied)."""
        import torch

        torch.manual_seed(self.seed)
        rows: list[tuple[int, str, GenRequest]] = []  # one row per sample
        for i, r in enumerate(requests):
            text = self._batch_chat_prompt(r.messages) if r.messages else r.prompt
            for _ in range(r.n if r.temperature > 0 else 1):
                rows.append((i, text, r))
        outs: list[list[str]] = [[] for _ in requests]
        # Group rows with identical decoding settings into batches.
        for start in range(0, len(rows), self.max_batch):
            chunk = rows[start : start + self.max_batch]
            groups: dict[tuple, list[tuple[int, str, GenRequest]]] = {}
            for row in chunk:
                r = row[2]
                groups.setdefault((r.max_new_tokens, r.temperature, r.top_p), []).append(row)
            for (max_new, temp, top_p), grp in groups.items():
                texts = self._generate_batch(
                    [t for _, t, _ in grp], [g[2].stop for g in grp], max_new, temp, top_p
                )
                for (i, _, _), text in zip(grp, texts, strict=True):
                    outs[i].append(text)
        for i, r in enumerate(requests):
            if r.temperature <= 0 and outs[i]:
                outs[i] = outs[i] * r.n
        return outs

    def _batch_chat_prompt(self, messages: list[dict[str, str]]) -> str:
        """The model's chat template; without one, the user turns joined in the release layout
        (no BOS text: the tokenizer adds BOS here, as ``eval run`` always did)."""
        if self.chat_template:
            return self.render_chat(messages)
        user = "\n".join(m["content"] for m in messages if m["role"] == "user")
        system = next((m["content"] for m in messages if m["role"] == "system"), None)
        return render_instruction(user, system)

    def _generate_batch(
        self, prompts: list[str], stops: list[list[str]], max_new: int, temp: float, top_p: float
    ) -> list[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        tok = self.tokenizer
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        prompts = [self._without_bos_text(p) for p in prompts]
        enc = tok(prompts, return_tensors="pt", padding=True).to(self.device)
        plen = enc["input_ids"].shape[1]

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

    def close(self, timeout_s: float | None = None) -> None:
        """Stop the worker and wait for it: jobs still waiting or running end with an error.

        The worker must be joined before the interpreter exits. A daemon thread still inside a
        torch call while the interpreter tears down makes libtorch abort the process
        (``terminate called without an active exception``, exit 134)."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout_s)
        _open_engines.discard(self)

    # ---- worker -----------------------------------------------------------------------------
    def _take(
        self, room: int, block: bool, first_always: bool = True
    ) -> list[tuple[Job, Emit, Handle]]:
        """Waiting jobs that fit ``room`` sequences. The first one is taken even when it needs
        more (``first_always``: a new batch); a job that does not fit waits in ``_putback``."""
        items: list[tuple[Job, Emit, Handle]] = []
        while True:
            try:
                if block and not items:
                    item = self._queue.get(timeout=0.2)
                else:
                    if self._queue.empty() or room <= 0:
                        break
                    item = self._queue.get_nowait()
            except queue.Empty:
                break
            job, emit, handle = item
            if handle.cancelled.is_set():  # gone while waiting
                with self._lock:
                    self.stats["cancelled"] += 1
                emit(Done(len(job.prompt_ids or []), 0))
                continue
            if job.params.n > room and (items or not first_always):
                self._putback = item
                break
            items.append(item)
            room -= job.params.n
        return items

    def _worker(self) -> None:
        try:
            self._serve_queue()
        finally:
            self._fail_waiting(BackendError(503, "the engine is shutting down"))

    def _fail_waiting(self, error: BackendError) -> None:
        """End every job still queued (after ``close``) so that no caller waits forever."""
        waiting = [self._putback] if self._putback is not None else []
        self._putback = None
        while True:
            try:
                waiting.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for job, emit, _ in waiting:
            emit(Done(len(job.prompt_ids or []), 0, error))

    def _serve_queue(self) -> None:
        while not self._stopping.is_set():
            if self._putback is not None:
                first, self._putback = [self._putback], None
                items = first + self._take(self.max_batch - first[0][0].params.n, block=False)
            else:
                items = self._take(self.max_batch, block=True)
            if not items:
                continue
            try:
                self._run(items)
            except EngineClosed:
                return
            except Exception:  # never let one bad batch kill the worker; its jobs got the error
                log.exception("generation failed")

    def _new_rows(self, items: list[tuple[Job, Emit, Handle]]) -> list[_Row]:
        import torch

        rows: list[_Row] = []
        for job, emit, handle in items:
            checker = StopChecker(job.params.stop)
            for i in range(job.params.n):
                gen = None
                if job.params.temperature > 0:
                    gen = torch.Generator(device="cpu")
                    if job.params.seed is not None:
                        gen.manual_seed(job.params.seed + i)
                    else:
                        gen.seed()
                rows.append(_Row(job, emit, handle, i, gen, checker=checker))
        return rows

    def _prefill(self, rows: list[_Row]):
        """Left-padded forward pass over the rows' prompts: (cache, mask, positions, logits)."""
        import torch

        prompts = [r.job.prompt_ids or [] for r in rows]
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            input_ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[i, width - len(p) :] = 1
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
        )
        return out.past_key_values, mask, positions[:, -1:], out.logits[:, -1, :].float().cpu()

    def _run(self, items: list[tuple[Job, Emit, Handle]]) -> None:
        """Decode ``items`` together; while room is left, waiting jobs join at step boundaries
        (continuous batching) when the KV cache is a plain per-layer dynamic cache."""
        import torch

        rows = self._new_rows(items)
        jobs: dict[int, list] = {}  # id(job) -> [job, emit, handle, open rows, tokens]

        def open_jobs(new: list[_Row]) -> None:
            for r in new:
                jobs.setdefault(id(r.job), [r.job, r.emit, r.handle, 0, 0])[3] += 1

        def close_row(r: _Row, error: BackendError | None = None) -> None:
            entry = jobs[id(r.job)]
            entry[3] -= 1
            entry[4] += len(r.ids)
            if entry[3] == 0:
                job, emit, handle, _, n_out = entry
                del jobs[id(job)]
                with self._lock:
                    self.stats["tokens_generated"] += n_out
                    self.stats["cancelled" if handle.cancelled.is_set() else "completed"] += 1
                emit(Done(len(job.prompt_ids or []), n_out, error))

        open_jobs(rows)
        with self._lock:
            self.stats["batches"] += 1
        try:
            with torch.inference_mode():
                cache, mask, pos, logits = self._prefill(rows)
                joinable = plain_dynamic_cache(cache)
                while True:
                    with self._lock:
                        self.stats["active_sequences"] = len(rows)
                    next_ids = self._sample(rows, logits)
                    for r, tok in zip(rows, next_ids, strict=True):
                        if not r.done:
                            self._advance(r, tok, r.checker)
                    if self._stopping.is_set():
                        raise EngineClosed("the engine is shutting down")
                    self._finish_cancelled(rows)
                    keep = [i for i, r in enumerate(rows) if not r.done]
                    for r in rows:
                        if r.done:
                            close_row(r)
                    if len(keep) < len(rows):
                        rows = [rows[i] for i in keep]
                        if not rows:
                            break
                        cache, mask, pos = select_rows(cache, mask, pos, keep)
                        next_ids = [next_ids[i] for i in keep]
                    feed = torch.tensor(next_ids, dtype=torch.long, device=self.device)[:, None]
                    mask = torch.cat([mask, torch.ones_like(feed)], dim=1)
                    pos = pos + 1
                    out = self.model(
                        input_ids=feed,
                        attention_mask=mask,
                        position_ids=pos,
                        past_key_values=cache,
                        use_cache=True,
                    )
                    cache, logits = out.past_key_values, out.logits[:, -1, :].float().cpu()
                    room = self.max_batch - len(rows)
                    if joinable and room > 0 and self._putback is None and not self._queue.empty():
                        new_items = self._take(room, block=False, first_always=False)
                        if new_items:
                            new = self._new_rows(new_items)
                            open_jobs(new)
                            c2, m2, p2, l2 = self._prefill(new)
                            if not plain_dynamic_cache(c2):
                                raise RuntimeError("unexpected KV cache layout")
                            cache, mask = join_caches(cache, mask, c2, m2)
                            pos = torch.cat([pos, p2], dim=0)
                            logits = torch.cat([logits, l2], dim=0)
                            rows = rows + new
                            with self._lock:
                                self.stats["joined"] += len(new_items)
        except BaseException as exc:
            if isinstance(exc, EngineClosed):
                error = BackendError(503, str(exc))
            else:
                error = BackendError(500, f"generation failed: {exc!r}")
            for job, emit, _, _, n_out in list(jobs.values()):  # every job still open
                with self._lock:
                    self.stats["tokens_generated"] += n_out
                emit(Done(len(job.prompt_ids or []), n_out, error))
            jobs.clear()
            raise
        finally:
            with self._lock:
                self.stats["active_sequences"] = 0

    def _finish_cancelled(self, rows: list[_Row]) -> None:
        for r in rows:
            if not r.done and r.handle.cancelled.is_set():
                r.done = True

    def _sample(self, rows: list[_Row], logits) -> list[int]:
        import torch

        out: list[int] = []
        for r, row_logits in zip(rows, logits, strict=True):
            if r.done:
                out.append(self.pad_id)
                continue
            p = r.job.params
            x = row_logits
            if r.counts and (p.presence_penalty or p.frequency_penalty):
                idx = torch.tensor(list(r.counts), dtype=torch.long)
                cnt = torch.tensor(list(r.counts.values()), dtype=x.dtype)
                x = x.clone()
                x[idx] -= p.frequency_penalty * cnt + p.presence_penalty
            if p.ignore_eos:
                x = x.clone()
                x[list(self.stop_ids)] = float("-inf")
            if p.temperature <= 0:
                out.append(int(torch.argmax(x)))
                continue
            probs = torch.softmax(x / p.temperature, dim=-1)
            if p.top_p < 1.0:
                sorted_p, order = torch.sort(probs, descending=True)
                cum = torch.cumsum(sorted_p, dim=-1)
                drop = cum - sorted_p > p.top_p
                sorted_p[drop] = 0.0
                probs = torch.zeros_like(probs).scatter_(0, order, sorted_p)
            out.append(int(torch.multinomial(probs, 1, generator=r.generator)))
        return out

    def _advance(self, r: _Row, tok: int, checker: StopChecker) -> None:
        p = r.job.params
        prompt_len = len(r.job.prompt_ids or [])
        if tok in self.stop_ids and not p.ignore_eos:
            self._close(r, "stop")
            return
        r.ids.append(tok)
        r.counts[tok] = r.counts.get(tok, 0) + 1
        old_len = len(r.text)
        r.text = self.tokenizer.decode(r.ids, skip_special_tokens=True)
        cut = checker.find(r.text, old_len) if checker.stops else -1
        if cut >= 0:
            r.text = r.text[:cut]
            self._close(r, "stop")
            return
        if len(r.ids) >= p.max_tokens or prompt_len + len(r.ids) >= self.context_window:
            self._close(r, "length")
            return
        safe = checker.safe_length(r.text)
        if safe > r.sent:
            r.emit(Event(r.index, r.text[r.sent : safe], None, len(r.ids)))
            r.sent = safe

    def _close(self, r: _Row, reason: str) -> None:
        r.done = True
        text = r.text[r.sent :] if len(r.text) > r.sent else ""
        r.sent = len(r.text)
        r.emit(Event(r.index, text, reason, len(r.ids)))


# Engines whose worker is running; closed (and joined) at exit when their owner did not.
_open_engines: weakref.WeakSet[LocalEngine] = weakref.WeakSet()


@atexit.register
def _close_open_engines() -> None:
    for engine in list(_open_engines):
        engine.close()
