"""Old home of the prompt layouts; they live in :mod:`repoloom.prompts` (one renderer for serve,
evaluate and SFT). Kept as a re-export for one release."""

from __future__ import annotations

from repoloom.prompts import (  # noqa: F401  (re-exported)
    BOS,
    COT_SENTENCE,
    DEFAULT_FIM_TEMPLATE,
    DEFAULT_SYSTEM_PROMPT,
    EOS,
    FIM_TEMPLATES,
    FimTemplate,
    detect_fim_template,
    get_fim_template,
    render_chat,
    with_system_prompt,
)
from repoloom.prompts import CHAT_TEMPLATE as DEEPSEEK_CHAT_TEMPLATE  # noqa: F401
from repoloom.prompts import EOT as EOT_TOKEN  # noqa: F401
