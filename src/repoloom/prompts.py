"""The prompt formats of the DeepSeek-Coder release, in one place for every part.

Special tokens (with their release ids), the Fill-in-the-Middle layouts per model family, the
instruct chat template, its default system prompt and the report's chain-of-thought sentence
(PAPER_NOTES sections 2-4). The tokenizer, training, evaluation and serving code all import
these, so a prompt means the same thing wherever it is built.
"""

from __future__ import annotations

from dataclasses import dataclass

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
FIM_HOLE = "<｜fim▁hole｜>"
FIM_BEGIN = "<｜fim▁begin｜>"
FIM_END = "<｜fim▁end｜>"
PAD = "<pad>"
USER = "<|User|>"
ASSISTANT = "<|Assistant|>"
EOT = "<|EOT|>"  # ends every instruct answer

#: Special tokens in release id order (32013 .. 32021 in the released vocabulary).
SPECIAL_TOKENS: tuple[str, ...] = (
    BOS,
    EOS,
    FIM_HOLE,
    FIM_BEGIN,
    FIM_END,
    PAD,
    USER,
    ASSISTANT,
    EOT,
)
RELEASE_SPECIAL_IDS: dict[str, int] = {tok: 32013 + i for i, tok in enumerate(SPECIAL_TOKENS)}

DEFAULT_SYSTEM_PROMPT = (
    "You are an AI programming assistant, utilizing the Deepseek Coder model, developed by "
    "Deepseek Company, and you only answer questions related to computer science. For "
    "politically sensitive questions, security and privacy issues, and other non-computer "
    "science questions, you will refuse to answer"
)
COT_SENTENCE = "You need first to write a step-by-step outline and then write the code."

#: The instruct chat template of the release (tokenizer_config.json of deepseek-coder-*-instruct):
#: BOS, the default system prompt unless a system message is given, ``### Instruction:`` /
#: ``### Response:`` turns, each answer closed by <|EOT|>; generation starts after ``### Response:``.
CHAT_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}\n"
    "{% set add_generation_prompt = false %}\n"
    "{% endif %}\n"
    "{%- set ns = namespace(found=false) -%}\n"
    "{%- for message in messages -%}\n"
    "    {%- if message['role'] == 'system' -%}\n"
    "        {%- set ns.found = true -%}\n"
    "    {%- endif -%}\n"
    "{%- endfor -%}\n"
    "{{bos_token}}{%- if not ns.found -%}\n"
    "{{'" + DEFAULT_SYSTEM_PROMPT + "\\n'}}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if message['role'] == 'system' %}\n"
    "{{ message['content'] }}\n"
    "    {%- else %}\n"
    "        {%- if message['role'] == 'user' %}\n"
    "{{'### Instruction:\\n' + message['content'] + '\\n'}}\n"
    "        {%- else %}\n"
    "{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{% if add_generation_prompt %}\n"
    "{{'### Response:'}}\n"
    "{% endif %}"
)


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


#: Inference FIM layouts, one row per model family. DeepSeek-Coder's is the release README's:
#: ``<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>``.
FIM_TEMPLATES: dict[str, FimTemplate] = {
    t.name: t
    for t in (
        FimTemplate("deepseek", FIM_BEGIN, FIM_HOLE, FIM_END, (EOT,)),
        FimTemplate(
            "starcoder",
            "<fim_prefix>",
            "<fim_suffix>",
            "<fim_middle>",
            ("<|endoftext|>", "<file_sep>"),
        ),
        FimTemplate("codellama", "<PRE> ", " <SUF>", " <MID>", ("<EOT>",)),
        FimTemplate(
            "santacoder", "<fim-prefix>", "<fim-suffix>", "<fim-middle>", ("<|endoftext|>",)
        ),
    )
}
DEFAULT_FIM_TEMPLATE = "deepseek"


def get_fim_template(name: str) -> FimTemplate:
    try:
        return FIM_TEMPLATES[name]
    except KeyError:
        known = ", ".join(sorted(FIM_TEMPLATES))
        raise ValueError(f"unknown FIM template {name!r} (known: {known})") from None


def render_fim(prefix: str, suffix: str, family: str = DEFAULT_FIM_TEMPLATE) -> str:
    """The inference FIM prompt of a model family; the model writes the middle."""
    return get_fim_template(family).render(prefix, suffix)


def detect_fim_template(vocab: set[str] | dict[str, int]) -> str:
    """The FIM family whose marker tokens are all in the tokenizer vocabulary (DeepSeek if none)."""
    for name, template in FIM_TEMPLATES.items():
        if all(m.strip() in vocab or f"▁{m.strip()}" in vocab for m in template.markers):
            return name
    return DEFAULT_FIM_TEMPLATE


# ---- the chat renderer ----------------------------------------------------------------------
@dataclass(frozen=True)
class RenderedChat:
    """A rendered conversation and the character spans of the assistant's turns.

    Each span covers an answer plus the ``\\n<|EOT|>`` that closes it: the text that SFT trains
    on (everything outside the spans gets no loss)."""

    text: str
    assistant_spans: tuple[tuple[int, int], ...] = ()


def render_release_chat(
    messages: list[dict[str, str]],
    *,
    bos_token: str = BOS,
    system_prompt: str | None = None,
    add_generation_prompt: bool = True,
) -> RenderedChat:
    """The release instruct template (:data:`CHAT_TEMPLATE`) rendered in Python, byte for byte
    as transformers renders the Jinja text, with the assistant spans.

    BOS, then the default system prompt (``system_prompt`` replaces it) plus ``\\n`` unless a
    message is a system one; a system message is written verbatim; a user turn is
    ``### Instruction:\\n{content}\\n``; any other role is an answer,
    ``### Response:\\n{content}\\n<|EOT|>\\n``; the generation prompt is ``### Response:\\n``.
    """
    parts: list[str] = [bos_token]
    size = len(bos_token)
    if not any(m["role"] == "system" for m in messages):
        parts.append((DEFAULT_SYSTEM_PROMPT if system_prompt is None else system_prompt) + "\n")
        size += len(parts[-1])
    spans: list[tuple[int, int]] = []
    for m in messages:
        if m["role"] == "system":
            piece = m["content"]
        elif m["role"] == "user":
            piece = "### Instruction:\n" + m["content"] + "\n"
        else:
            answer = m["content"] + "\n" + EOT
            start = size + len("### Response:\n")
            spans.append((start, start + len(answer)))
            piece = "### Response:\n" + answer + "\n"
        parts.append(piece)
        size += len(piece)
    if add_generation_prompt:
        parts.append("### Response:\n")
    return RenderedChat("".join(parts), tuple(spans))


def render_chat(
    messages: list[dict[str, str]],
    *,
    chat_template: str | None = None,
    bos_token: str = BOS,
    eos_token: str = EOS,
    add_generation_prompt: bool = True,
) -> str:
    """Render chat ``messages`` with ``chat_template`` (the release template when None).

    The release template is rendered by :func:`render_release_chat`; any other template (a
    tokenizer's own) by Jinja as transformers' ``apply_chat_template`` does (sandboxed,
    ``trim_blocks``, ``lstrip_blocks``, loop controls, ``raise_exception``). With the
    generation prompt the text ends where the model answers (``### Response:\\n``)."""
    if chat_template is None or chat_template == CHAT_TEMPLATE:
        return render_release_chat(
            messages, bos_token=bos_token, add_generation_prompt=add_generation_prompt
        ).text
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.globals["raise_exception"] = raise_exception
    return env.from_string(chat_template).render(
        messages=messages,
        add_generation_prompt=add_generation_prompt,
        bos_token=bos_token,
        eos_token=eos_token,
    )


def render_instruction(user: str, system: str | None = None) -> str:
    """One user turn in the release template without BOS (which the tokenizer adds), ready for
    the answer; ``system`` (plus ``\\n``) replaces the default system prompt."""
    sys_text = DEFAULT_SYSTEM_PROMPT if system is None else system
    messages = [{"role": "system", "content": sys_text + "\n"}, {"role": "user", "content": user}]
    return render_chat(messages, bos_token="")


def with_system_prompt(
    messages: list[dict[str, str]], system: str | None, *, cot: bool = False
) -> list[dict[str, str]]:
    """Messages with ``system`` (None: the template's default) and the report's ``cot`` sentence.

    A custom system prompt gets the trailing newline that the release default has, since the
    release template writes a system message verbatim. ``cot`` appends the chain-of-thought
    sentence to the last user message.
    """
    out = [dict(m) for m in messages]
    if cot and out and out[-1]["role"] == "user":
        out[-1]["content"] = out[-1]["content"].rstrip("\n") + "\n" + COT_SENTENCE
    if system is not None:
        text = system if system.endswith("\n") or not system else system + "\n"
        out.insert(0, {"role": "system", "content": text})
    return out
