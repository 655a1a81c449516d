"""Prompt rendering shared by the backends: FIM templates per model family and the DeepSeek
instruct chat template (PAPER_NOTES sections 3 and 4)."""

from __future__ import annotations

FIM_TEMPLATES: dict[str, str] = {
    # PSM as DeepSeek-Coder was trained: begin, prefix, hole, suffix, end -> the model writes
    # the middle.
    "deepseek": "<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>",
    "starcoder": "<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
    "codellama": "<PRE> {prefix} <SUF>{suffix} <MID>",
    "santacoder": "<fim-prefix>{prefix}<fim-suffix>{suffix}<fim-middle>",
}

DEEPSEEK_SYSTEM = (
    "You are an AI programming assistant, utilizing the Deepseek Coder model, developed by "
    "Deepseek Company, and you only answer questions related to computer science. For "
    "politically sensitive questions, security and privacy issues, and other non-computer "
    "science questions, you will refuse to answer"
)
EOT = "<|EOT|>"


def render_fim(prefix: str, suffix: str, family: str = "deepseek") -> str:
    if family not in FIM_TEMPLATES:
        raise ValueError(f"unknown FIM family {family!r}; known: {', '.join(FIM_TEMPLATES)}")
    return FIM_TEMPLATES[family].format(prefix=prefix, suffix=suffix)


def render_deepseek_chat(user: str, system: str | None = None) -> str:
    """The released instruct template (without BOS, which the tokenizer adds), ready for the
    assistant's answer."""
    sys_text = DEEPSEEK_SYSTEM if system is None else system
    return f"{sys_text}\n### Instruction:\n{user}\n### Response:\n"


def extract_code(text: str, language: str = "python") -> str:
    """The first fenced code block of a chat answer (preferring one tagged ``language``), or the
    whole text when there is none."""
    import re

    blocks = re.findall(r"```([\w+#-]*)[^\n]*\n(.*?)```", text, flags=re.S)
    if not blocks:
        # An unterminated block (generation cut at the token limit).
        m = re.search(r"```[\w+#-]*[^\n]*\n(.*)", text, flags=re.S)
        return m.group(1) if m else text
    for tag, body in blocks:
        if tag.lower() == language.lower():
            return body
    return blocks[0][1]
