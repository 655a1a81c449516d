"""The one chat renderer (repoloom.prompts) against the release Jinja template, and its spans."""

from __future__ import annotations

import itertools

import pytest

from repoloom.prompts import (
    CHAT_TEMPLATE,
    DEFAULT_SYSTEM_PROMPT,
    EOT,
    render_chat,
    render_instruction,
    render_release_chat,
)

CONTENTS = ["", "hi", "a\nb\n", " x ", "### Response:", "{{ x }}", "é\n\n"]


def _jinja(messages: list[dict], gen: bool, bos: str) -> str:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(CHAT_TEMPLATE).render(
        messages=messages, add_generation_prompt=gen, bos_token=bos, eos_token="E"
    )


@pytest.mark.parametrize("gen", [True, False])
def test_python_rendering_is_the_jinja_template_byte_for_byte(gen):
    n = 0
    for length in range(4):
        for roles in itertools.product(["system", "user", "assistant"], repeat=length):
            msgs = [
                {"role": r, "content": CONTENTS[(i * 3 + length) % len(CONTENTS)]}
                for i, r in enumerate(roles)
            ]
            for bos in ("<B>", ""):
                ref = _jinja(msgs, gen, bos)
                assert render_chat(msgs, bos_token=bos, add_generation_prompt=gen) == ref
                # a template given as text that is not the release one goes through Jinja
                other = CHAT_TEMPLATE + "{# tokenizer copy #}"
                assert (
                    render_chat(msgs, chat_template=other, bos_token=bos, add_generation_prompt=gen)
                    == ref
                )
                n += 1
    assert n == 2 * (1 + 3 + 9 + 27)


def test_assistant_spans_cover_answer_and_eot_only():
    msgs = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a\n2"},
    ]
    r = render_release_chat(msgs, bos_token="<B>", add_generation_prompt=False)
    assert [r.text[s:e] for s, e in r.assistant_spans] == [f"a1\n{EOT}", f"a\n2\n{EOT}"]
    assert r.text.startswith(f"<B>{DEFAULT_SYSTEM_PROMPT}\n### Instruction:\nq1\n")
    assert r.text.endswith(f"### Response:\na\n2\n{EOT}\n")


def test_single_instruction_without_bos():
    assert (
        render_instruction("u") == f"{DEFAULT_SYSTEM_PROMPT}\n### Instruction:\nu\n### Response:\n"
    )
    assert render_instruction("u", "S") == "S\n### Instruction:\nu\n### Response:\n"


def test_template_errors_surface_as_exceptions():
    bad = "{{ raise_exception('roles must alternate') }}"
    with pytest.raises(Exception, match="roles must alternate"):
        render_chat([{"role": "user", "content": "x"}], chat_template=bad)
