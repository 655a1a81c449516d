"""``repoloom serve``, ``repoloom complete`` and ``repoloom chat``."""

from __future__ import annotations

import argparse
import sys

from repoloom.codebase.context import repository_prompt
from repoloom.config import keyword_args
from repoloom.errors import UserError, as_user_error
from repoloom.inference.base import SamplingParams
from repoloom.inference.local import LocalEngine
from repoloom.inference.upstream import UpstreamEngine
from repoloom.prompts import (
    COT_SENTENCE,
    FIM_TEMPLATES,
    detect_fim_template,
    get_fim_template,
    with_system_prompt,
)
from repoloom.serve.client import HttpClient, LocalClient


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="OpenAI-compatible completion/FIM/chat server (local model, or in front of vLLM or llama.cpp)",
        description="Serve /v1/completions (prompt + suffix = FIM), /v1/chat/completions, "
        "/infill (llama.cpp shape), /v1/models and /health.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="Hugging Face model directory to load")
    src.add_argument("--upstream", metavar="URL", help="OpenAI-compatible server to forward to")
    p.add_argument(
        "--tokenizer", help="with --upstream: tokenizer directory (token budgets, /tokenize)"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--served-model-name", help="model id in /v1/models (default: directory name)")
    _fim_arg(p)
    p.add_argument("--max-batch", type=int, default=8, help="sequences decoded together")
    p.add_argument(
        "--max-queue", type=int, default=64, help="waiting requests before answering 503"
    )
    p.add_argument("--context-window", type=int, help="cap the model's context window")
    p.add_argument(
        "--default-max-tokens",
        type=int,
        default=256,
        help="new tokens for a chat or /infill request that names no bound (default 256)",
    )
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--api-key", help="bearer token sent to the upstream")
    p.add_argument(
        "--upstream-kind",
        default="auto",
        choices=["auto", "vllm", "llama.cpp", "openai"],
        help="with --upstream: its sampling dialect (auto: from its /v1/models)",
    )
    p.set_defaults(func=cmd_serve)

    c = subparsers.add_parser(
        "complete",
        help="complete code at a cursor, with the repository's dependencies as context",
    )
    c.add_argument("file")
    c.add_argument("--line", type=int, required=True, help="1-based line of the cursor")
    c.add_argument("--col", type=int, required=True, help="1-based column of the cursor")
    c.add_argument("--repo", help="repository root: put the file's dependencies before it")
    _target_args(c)
    _fim_arg(c)
    c.add_argument("--max-tokens", type=int, default=64)
    c.add_argument("--temperature", type=float, default=0.0)
    c.add_argument("--budget", type=int, help="prompt token budget (default: window - max tokens)")
    c.add_argument("--order-mode", help="corpus ordering mode (default: the corpus default)")
    c.add_argument("--show-prompt", action="store_true", help="print the prompt that was built")
    c.set_defaults(func=cmd_complete)

    h = subparsers.add_parser("chat", help="terminal chat with the instruct template")
    _target_args(h)
    h.add_argument("--system", help="system prompt (default: the release's)")
    h.add_argument(
        "--cot", action="store_true", help="append the report's chain-of-thought sentence"
    )
    h.add_argument("--max-tokens", type=int, default=512)
    h.add_argument("--temperature", type=float, default=0.0)
    h.set_defaults(func=cmd_chat)


def _fim_arg(p: argparse.ArgumentParser) -> None:

    p.add_argument(
        "--fim-template",
        default="auto",
        choices=["auto", *FIM_TEMPLATES],
        help="FIM layout (auto: from the tokenizer's special tokens, DeepSeek-Coder otherwise)",
    )


def _target_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--model", help="Hugging Face model directory (runs in-process)")
    g.add_argument("--url", help="repoloom serve / vLLM / other OpenAI-compatible server")
    p.add_argument("--tokenizer", help="with --url: tokenizer directory for exact token budgets")
    p.add_argument("--api-key", help="with --url: bearer token")


def _template(name: str, vocab):

    return get_fim_template(detect_fim_template(vocab) if name == "auto" else name)


def _check_model_dir(path: str) -> None:
    from pathlib import Path

    if not (Path(path) / "config.json").is_file():
        raise UserError(f"{path} is not a Hugging Face model directory (no config.json)")


def build_backend(args: argparse.Namespace):
    if args.model:
        _check_model_dir(args.model)
        flags = keyword_args(args, LocalEngine, model_id="served_model_name")
        return LocalEngine(args.model, **flags), "local"

    with as_user_error(ConnectionError):
        return UpstreamEngine(
            args.upstream,
            model_id=args.served_model_name,
            tokenizer_dir=args.tokenizer,
            max_concurrency=args.max_queue + args.max_batch,
            api_key=args.api_key,
            context_window=args.context_window,
            kind=args.upstream_kind,
        ), "upstream"


def cmd_serve(args: argparse.Namespace) -> int:
    from rich.console import Console

    from repoloom.serve.app import create_app

    console = Console(stderr=True)
    with console.status("loading the model" if args.model else "contacting the upstream"):
        backend, kind = build_backend(args)
    template = _template(args.fim_template, backend.vocab)
    if kind == "local":
        backend.add_stop_strings(template.stop)
    if args.default_max_tokens < 1:
        raise UserError("--default-max-tokens must be at least 1")
    app = create_app(
        backend, template, backend_kind=kind, default_max_tokens=args.default_max_tokens
    )
    console.print(
        f"repoloom serve: model [bold]{backend.model_id}[/] ({kind}, FIM template "
        f"{template.name}, context {backend.context_window}) on http://{args.host}:{args.port}"
    )
    try:
        started = run_until_signal(app, args.host, args.port)
    finally:
        backend.close()  # the lifespan hook closed it already unless startup failed
    return 0 if started else 1


def run_until_signal(app, host: str, port: int) -> bool:
    """Serve ``app`` until SIGINT/SIGTERM; return whether the server had started.

    uvicorn re-raises the signal after its graceful shutdown, so the process would die by it
    (exit -15 under SIGTERM). A stop asked for by a signal is the normal end of a server: finish
    the requests in flight, run the lifespan shutdown (which closes the backend), exit 0."""
    import signal

    import uvicorn

    class GracefulServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame) -> None:
            super().handle_exit(sig, frame)
            if sig in (signal.SIGINT, signal.SIGTERM):
                self._captured_signals = [s for s in self._captured_signals if s != sig]

    server = GracefulServer(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    server.run()
    return server.started


def _client(args: argparse.Namespace):
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per request in the terminal
    if args.model:
        _check_model_dir(args.model)
        return LocalClient(args.model)

    with as_user_error(ConnectionError):
        return HttpClient(args.url, api_key=args.api_key, tokenizer_dir=args.tokenizer)


def cmd_complete(args: argparse.Namespace) -> int:
    from pathlib import Path

    if not Path(args.file).is_file():
        raise UserError(f"{args.file}: no such file")
    if args.repo and not Path(args.repo).is_dir():
        raise UserError(f"{args.repo}: not a directory")
    if args.max_tokens < 1:
        raise UserError("--max-tokens must be at least 1")
    client = _client(args)
    try:
        template = _template(args.fim_template, client.vocab)
        budget = args.budget or (client.context_window - args.max_tokens)
        with as_user_error(ValueError):
            built = repository_prompt(
                args.file,
                args.line,
                args.col,
                template=template,
                count_tokens=client.count_tokens,
                budget_tokens=budget,
                repo_root=args.repo,
                mode=args.order_mode,
            )
        if args.show_prompt:
            ctx = built.context
            print(
                f"# prompt: {built.n_tokens} tokens (budget {budget}); context files "
                f"{len(ctx.included)} kept, {len(ctx.dropped)} dropped over budget",
                file=sys.stderr,
            )
            for p in ctx.dropped:
                print(f"#   dropped: {p} (distance {ctx.distance[p]})", file=sys.stderr)
            sys.stdout.write(built.prompt + "\n---- completion ----\n")
        params = SamplingParams(max_tokens=args.max_tokens, temperature=args.temperature)
        with as_user_error(RuntimeError):
            for piece in client.generate(built.prompt, params):
                sys.stdout.write(piece)
                sys.stdout.flush()
        sys.stdout.write("\n")
    finally:
        client.close()
    return 0


def cmd_chat(args: argparse.Namespace) -> int:

    client = _client(args)
    history: list[dict[str, str]] = []
    params = SamplingParams(max_tokens=args.max_tokens, temperature=args.temperature)
    interactive = sys.stdin.isatty()
    if interactive:
        print("repoloom chat: /reset clears the history, /exit or Ctrl-D quits", file=sys.stderr)
    try:
        while True:
            try:
                line = input("you> " if interactive else "")
            except EOFError:
                break
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                break
            if text == "/reset":
                history.clear()
                continue
            if args.cot:
                text = text + "\n" + COT_SENTENCE
            history.append({"role": "user", "content": text})
            messages = with_system_prompt(history, args.system)
            sys.stdout.write("assistant> ")
            answer = []
            try:
                for piece in client.chat(messages, params):
                    answer.append(piece)
                    sys.stdout.write(piece)
                    sys.stdout.flush()
            except RuntimeError as exc:
                history.pop()
                print(f"\nrepoloom: error: {exc}", file=sys.stderr)
                continue
            sys.stdout.write("\n")
            history.append({"role": "assistant", "content": "".join(answer)})
    finally:
        client.close()
    return 0
