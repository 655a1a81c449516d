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
