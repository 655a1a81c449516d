"""``repoloom complete`` and ``repoloom chat`` on a local model and against a server URL."""

from __future__ import annotations

import io

import httpx
import pytest

from repoloom.cli import main
from repoloom.prompts import COT_SENTENCE, DEFAULT_SYSTEM_PROMPT


@pytest.fixture()
def small_repo(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "util.py").write_text("def double(x):\n    return 2 * x\n")
    (tmp_path / "pkg" / "main.py").write_text(
        "from pkg.util import double\n\n\ndef run(v):\n    return double(v)\n"
    )
    (tmp_path / "pkg" / "unrelated.py").write_text("Z = 0\n")
    return tmp_path


def test_complete_local_with_repo_and_show_prompt(small_repo, tiny_dir, capsys):
    f = small_repo / "pkg" / "main.py"
    code = main(
        [
            "complete",
            str(f),
            "--line",
            "5",
            "--col",
            "12",
            "--repo",
            str(small_repo),
            "--model",
            str(tiny_dir),
            "--max-tokens",
            "4",
            "--show-prompt",
        ]
    )
    assert code == 0
    out = capsys.readouterr()
    prompt, completion = out.out.split("\n---- completion ----\n")
    assert prompt == (
        "<｜fim▁begin｜># pkg/util.py\ndef double(x):\n    return 2 * x\n"
        "# pkg/main.py\nfrom pkg.util import double\n\n\ndef run(v):\n    return "
        "<｜fim▁hole｜>double(v)\n<｜fim▁end｜>"
    )
    assert "1 kept, 0 dropped" in out.err
    assert completion.endswith("\n")


def test_complete_url_equals_server_completion(small_repo, server, capsys):
    f = small_repo / "pkg" / "main.py"
    args = [
        "complete",
        str(f),
        "--line",
        "4",
        "--col",
        "1",
        "--repo",
        str(small_repo),
        "--url",
        server,
        "--max-tokens",
        "6",
        "--show-prompt",
    ]
    assert main(args) == 0
    out = capsys.readouterr()
    prompt, completion = out.out.split("\n---- completion ----\n")
    # Without --tokenizer the prompt is measured with the server's /tokenize.
    count = httpx.post(f"{server}/tokenize", json={"prompt": prompt}).json()["count"]
    assert f"# prompt: {count} tokens" in out.err
    direct = httpx.post(
        f"{server}/v1/completions",
        json={"prompt": prompt, "max_tokens": 6, "temperature": 0},
        timeout=60,
    ).json()
    assert completion == direct["choices"][0]["text"] + "\n"


def test_complete_user_errors(small_repo, tiny_dir, capsys):
    f = small_repo / "pkg" / "main.py"
    assert main(["complete", str(f), "--line", "99", "--col", "1", "--model", str(tiny_dir)]) == 2
    assert "line 99" in capsys.readouterr().err
    missing = str(small_repo / "nope.py")
    assert main(["complete", missing, "--line", "1", "--col", "1", "--model", str(tiny_dir)]) == 2
    assert main(["complete", str(f), "--line", "1", "--col", "1", "--model", str(small_repo)]) == 2
    assert "config.json" in capsys.readouterr().err
    assert (
        main(["complete", str(f), "--line", "1", "--col", "1", "--url", "http://127.0.0.1:9"]) == 2
    )


def test_chat_local_keeps_history_and_cot(tiny_dir, monkeypatch, capsys):
    from repoloom.serve import client as client_mod

    seen: list[list[dict]] = []
    original = client_mod.LocalClient.chat

    def spy(self, messages, params):
        seen.append([dict(m) for m in messages])
        return original(self, messages, params)

    monkeypatch.setattr(client_mod.LocalClient, "chat", spy)
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n\nsort a list\n/exit\nnever sent\n"))
    assert main(["chat", "--model", str(tiny_dir), "--max-tokens", "3", "--cot"]) == 0
    assert len(seen) == 2
    first, second = seen
    assert first == [{"role": "user", "content": f"hello\n{COT_SENTENCE}"}]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[2]["content"] == f"sort a list\n{COT_SENTENCE}"
    assert capsys.readouterr().out.count("assistant> ") == 2


def test_chat_url_with_system_prompt(server, monkeypatch, capsys):
    from repoloom.serve import client as client_mod

    seen = []
    original = client_mod.HttpClient.chat

    def spy(self, messages, params):
        seen.append(messages)
        return original(self, messages, params)

    monkeypatch.setattr(client_mod.HttpClient, "chat", spy)
    monkeypatch.setattr("sys.stdin", io.StringIO("hi\n"))
    assert main(["chat", "--url", server, "--max-tokens", "3", "--system", "Be short."]) == 0
    assert seen[0][0] == {"role": "system", "content": "Be short.\n"}
    assert capsys.readouterr().out.startswith("assistant> ")


def test_release_system_prompt_is_the_default():
    from repoloom.prompts import render_chat

    text = render_chat([{"role": "user", "content": "hi"}])
    # The release template, rendered as transformers renders it (trim_blocks, lstrip_blocks),
    # leaves the newline after "### Response:" in place: generation starts on a new line.
    assert text == (
        f"<｜begin▁of▁sentence｜>{DEFAULT_SYSTEM_PROMPT}\n### Instruction:\nhi\n### Response:\n"
    )
    two = render_chat(
        [
            {"role": "system", "content": "S\n"},
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ]
    )
    assert two == (
        "<｜begin▁of▁sentence｜>S\n### Instruction:\na\n### Response:\nb\n<|EOT|>\n"
        "### Instruction:\nc\n### Response:\n"
    )


def test_chat_prompt_has_one_bos(engine):
    from repoloom.prompts import render_chat

    ids = engine.encode(render_chat([{"role": "user", "content": "x"}]))
    bos = engine.tokenizer.bos_token_id
    assert ids[0] == bos and ids[1] != bos


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], port: int):
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "repoloom.cli", "serve", *args, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "repoloom serve did not start"
        time.sleep(0.2)


def test_serve_command_upstream(server, tiny_dir):
    """The real `repoloom serve --upstream` command in front of the test server."""
    port = _free_port()
    proxy = _start(["--upstream", f"{server}/v1", "--tokenizer", str(tiny_dir)], port)
    try:
        url = f"http://127.0.0.1:{port}"
        assert [m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]] == ["tiny-coder"]
        body = {"prompt": "a", "suffix": "b", "max_tokens": 3, "temperature": 0}
        a = httpx.post(f"{server}/v1/completions", json=body, timeout=60).json()
        b = httpx.post(f"{url}/v1/completions", json=body, timeout=60).json()
        assert a["choices"][0]["text"] == b["choices"][0]["text"]
        tok = httpx.post(f"{url}/tokenize", json={"prompt": "a", "suffix": "b"}).json()
        assert tok["count"] == a["usage"]["prompt_tokens"]
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)


def test_serve_arguments_build_a_local_backend(tiny_dir):
    from repoloom.cli import build_parser
    from repoloom.serve.cli import build_backend

    args = build_parser().parse_args(
        ["serve", "--model", str(tiny_dir), "--served-model-name", "m1", "--max-batch", "2",
         "--max-queue", "3", "--context-window", "512", "--threads", "1"]
    )  # fmt: skip
    backend, kind = build_backend(args)
    try:
        assert kind == "local" and backend.model_id == "m1"
        assert backend.max_batch == 2 and backend.context_window == 512
        assert backend._queue.maxsize == 3
    finally:
        backend.close()


def test_serve_command_user_errors(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err
    assert main(["serve", "--upstream", "http://127.0.0.1:9"]) == 2
    assert "cannot list the models" in capsys.readouterr().err


def test_chat_rendering_matches_transformers(engine):
    from repoloom.prompts import render_chat

    tok = engine.tokenizer
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    messages.append({"role": "user", "content": "c"})
    theirs = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert render_chat(messages, chat_template=tok.chat_template, bos_token=tok.bos_token) == theirs
