"""One interface for every benchmark: load, build prompts, post-process, score."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from repoloom.evaluate.prompts import extract_code, render_fim
from repoloom.evaluate.sandbox import Job, JobResult
from repoloom.inference.base import GenRequest, cut_at_stop

PYTHON_STOP_WORDS = ["\ndef", "\nclass", "\nif", "\n#", "\nprint"]  # PAPER_NOTES section 5


@dataclass
class Task:
    task_id: str
    prompt: str
    data: dict[str, Any] = field(default_factory=dict)
    stop: list[str] = field(default_factory=list)
    # For fill-in-the-middle tasks: the text after the hole (prompt is the text before it).
    suffix: str | None = None


@dataclass
class Verdict:
    passed: bool
    result: str
    extra: dict[str, Any] = field(default_factory=dict)


class Benchmark:
    """Subclasses set ``name`` and implement :meth:`load` and :meth:`job` (or :meth:`grade`)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    language: ClassVar[str] = "python"
    #: "completion" (base-model left-to-right), "infill" (FIM) or "chat" (instruct models).
    prompt_style: ClassVar[str] = "completion"
    max_new_tokens: ClassVar[int] = 500

    def load(self, data_dir: Path | None) -> list[Task]:
        raise NotImplementedError

    def normalize_task_id(self, task_id: str) -> str:
        """Map alternative spellings of a task id (in sample files) to the loaded one."""
        return task_id

    def stop_words(self, task: Task) -> list[str]:
        return list(task.stop)

    def postprocess(self, task: Task, generation: str) -> str:
        """The completion to score from the raw generation: cut at the first stop word."""
        return cut_at_stop(generation, self.stop_words(task))

    def instruction(self, task: Task) -> str:
        """The user turn for instruct models."""
        lang = self.language
        return (
            f"Complete the following {lang} code. Reply with the whole function in one code "
            f"block.\n```{lang}\n{task.prompt.strip()}\n```"
        )

    def request(self, task: Task, *, instruct: bool = False, fim_family: str = "deepseek"):
        """The generation request for ``task`` (n, temperature, ... are filled by the runner)."""
        if instruct:
            msgs = [{"role": "user", "content": self.instruction(task)}]
            return GenRequest(messages=msgs, max_new_tokens=self.max_new_tokens)
        if self.prompt_style == "infill":
            prompt = render_fim(task.prompt, task.suffix or "", fim_family)
        else:
            prompt = task.prompt
        return GenRequest(
            prompt=prompt, stop=self.stop_words(task), max_new_tokens=self.max_new_tokens
        )

    def completion_from_chat(self, task: Task, answer: str) -> str:
        """The completion (continuation of ``task.prompt``) from an instruct model's answer:
        the code block, minus everything up to the prompt's last line (the signature)."""
        code = extract_code(answer, self.language)
        sig = task.prompt.rstrip().splitlines()[-1].strip() if task.prompt.strip() else ""
        if sig:
            lines = code.splitlines(keepends=True)
            for i, line in enumerate(lines):
                if line.strip() == sig:
                    return "".join(lines[i + 1 :])
        return code

    def job(self, task: Task, completion: str, timeout: float) -> Job | None:
        """The sandbox job that checks ``completion``; None if grading needs no execution."""
        raise NotImplementedError

    def grade(self, task: Task, completion: str, result: JobResult | None) -> Verdict:
        """Turn the sandbox result (or, for non-executed tasks, the completion) into a verdict."""
        if result is None:
            return Verdict(False, "failed: nothing was run")
        return Verdict(result.passed, result.result)

    def toolchain(self) -> str:
        """Names the interpreter/compiler that runs the programs (recorded in the results)."""
        return f"python {platform.python_version()}"
