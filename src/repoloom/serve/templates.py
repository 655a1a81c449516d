"""Prompt layouts: Fill-in-the-Middle templates per model family, the release chat template.

FIM templates are rows of a table so that other code-model families are one line each. The
DeepSeek-Coder row is the release README's inference layout (PAPER_NOTES section 3):
``<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>``; the model writes the middle.
Prompts are rendered as text with the special tokens spelled out; the tokenizer maps those
spellings to their single special ids (and adds BOS, as the release tokenizer does).
"""

from __future__ import annotations

from repoloom.prompts import (  # noqa: F401  (re-exported for the serve modules)
    BOS,
    COT_SENTENCE,
    DEFAULT_FIM_TEMPLATE,
    DEFAULT_SYSTEM_PROMPT,
    EOS,
    FIM_TEMPLATES,
    FimTemplate,
    get_fim_template,
)
from repoloom.prompts import CHAT_TEMPLATE as DEEPSEEK_CHAT_TEMPLATE
from repoloom.prompts import EOT as EOT_TOKEN  # noqa: F401


def detect_fim_template(vocab: set[str] | dict[str, int]) -> str:
    """The FIM family whose marker tokens are all in the tokenizer vocabulary (DeepSeek if none)."""
    for name, template in FIM_TEMPLATES.items():
        if all(m.strip() in vocab or f"▁{m.strip()}" in vocab for m in template.markers):
            return name
    return DEFAULT_FIM_TEMPLATE


def render_chat(
    messages: list[dict[str, str]],
    *,
    chat_template: str | None = None,
    bos_token: str = BOS,
    eos_token: str = EOS,
) -> str:
    """Render chat ``messages`` with ``chat_template`` (the release template when None).

    The result ends with the generation prompt (``### Response:`` for the release template).
    """
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(chat_template or DEEPSEEK_CHAT_TEMPLATE)
    return template.render(
        messages=messages, add_generation_prompt=True, bos_token=bos_token, eos_token=eos_token
    )


def with_system_prompt(
    messages: list[dict[str, str]], system: str | None, *, cot: bool = False
) -> list[dict[str, str]]:
    """Messages for the terminal chat: ``system`` (None: the template's default) and ``--cot``.

    A custom system prompt gets the trailing newline that the release default has, since the
    release template writes a system message verbatim. ``cot`` appends the report's
    chain-of-thought sentence to the last user message.
    """
    out = [dict(m) for m in messages]
    if cot and out and out[-1]["role"] == "user":
        out[-1]["content"] = out[-1]["content"].rstrip("\n") + "\n" + COT_SENTENCE
    if system is not None:
        text = system if system.endswith("\n") or not system else system + "\n"
        out.insert(0, {"role": "system", "content": text})
    return out
