"""Prompt rendering shared by the backends: FIM templates per model family and the DeepSeek
instruct chat template (PAPER_NOTES sections 3 and 4)."""

from __future__ import annotations

from repoloom.prompts import DEFAULT_SYSTEM_PROMPT, render_fim  # noqa: F401  (re-exported)
from repoloom.prompts import render_instruction as render_deepseek_chat  # noqa: F401


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
