"""Prompt layouts: Fill-in-the-Middle templates per model family, the release chat template.

FIM templates are rows of a table so that other code-model families are one line each. The
DeepSeek-Coder row is the release README's inference layout (PAPER_NOTES section 3):
``<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>``; the model writes the middle.
Prompts are rendered as text with the special tokens spelled out; the tokenizer maps those
spellings to their single special ids (and adds BOS, as the release tokenizer does).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FimTemplate:
    """``begin + prefix + hole + suffix + end`` (PSM order); the model continues with the middle."""

    name: str
    begin: str
    hole: str
    end: str
    stop: tuple[str, ...] = ()  # extra stop strings of the family (besides the tokenizer's EOS)

    def render(self, prefix: str, suffix: str) -> str:
        return f"{self.begin}{prefix}{self.hole}{suffix}{self.end}"

    @property
    def markers(self) -> tuple[str, str, str]:
        return (self.begin, self.hole, self.end)


FIM_TEMPLATES: dict[str, FimTemplate] = {
    t.name: t
    for t in (
        FimTemplate("deepseek", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", ("<|EOT|>",)),
        FimTemplate(
            "starcoder",
            "<fim_prefix>",
            "<fim_suffix>",
            "<fim_middle>",
            ("<|endoftext|>", "<file_sep>"),
        ),
        FimTemplate("codellama", "<PRE> ", " <SUF>", " <MID>", ("<EOT>",)),
    )
}
DEFAULT_FIM_TEMPLATE = "deepseek"

# The release instruct model's system prompt and the report's chain-of-thought sentence.
DEFAULT_SYSTEM_PROMPT = (
    "You are an AI programming assistant, utilizing the Deepseek Coder model, developed by "
    "Deepseek Company, and you only answer questions related to computer science. For politically "
    "sensitive questions, security and privacy issues, and other non-computer science questions, "
    "you will refuse to answer"
)
COT_SENTENCE = "You need first to write a step-by-step outline and then write the code."
EOT_TOKEN = "<|EOT|>"

# The release instruct tokenizer's chat template (BOS, default system prompt unless a system
# message is given, ``### Instruction:`` / ``### Response:`` turns, each answer closed by <|EOT|>).
DEEPSEEK_CHAT_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{%- set ns = namespace(found=false) -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{%- set ns.found = true -%}{%- endif -%}"
    "{%- endfor -%}"
    "{{bos_token}}{%- if not ns.found -%}{{'" + DEFAULT_SYSTEM_PROMPT + "\\n'}}{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}{{ message['content'] }}"
    "{%- else %}"
    "{%- if message['role'] == 'user' %}{{'### Instruction:\\n' + message['content'] + '\\n'}}"
    "{%- else %}{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}"
    "{%- endif %}"
    "{%- endif %}"
    "{%- endfor %}"
    "{% if add_generation_prompt %}{{'### Response:'}}{% endif %}"
)


def detect_fim_template(vocab: set[str] | dict[str, int]) -> str:
    """The FIM family whose marker tokens are all in the tokenizer vocabulary (DeepSeek if none)."""
    for name, template in FIM_TEMPLATES.items():
        if all(m.strip() in vocab or f"▁{m.strip()}" in vocab for m in template.markers):
            return name
    return DEFAULT_FIM_TEMPLATE


def get_fim_template(name: str) -> FimTemplate:
    try:
        return FIM_TEMPLATES[name]
    except KeyError:
        known = ", ".join(sorted(FIM_TEMPLATES))
        raise ValueError(f"unknown FIM template {name!r} (known: {known})") from None


def render_chat(
    messages: list[dict[str, str]],
    *,
    chat_template: str | None = None,
    bos_token: str = "<｜begin▁of▁sentence｜>",
    eos_token: str = "<｜end▁of▁sentence｜>",
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
