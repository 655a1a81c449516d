"""MBPP, 3-shot on tasks 11-510 with the report's prompt: three worked examples (tasks 2, 3
and 4), then the task text and its tests; the answer goes between ``[BEGIN]`` and ``[DONE]``."""

from __future__ import annotations

from pathlib import Path

from repoloom.benchdata.mbpp import MBPP_HUB, load_mbpp_records, local_mbpp
from repoloom.evaluate.benchmarks import register
from repoloom.evaluate.benchmarks.base import Benchmark, Task
from repoloom.evaluate.prompts import extract_code
from repoloom.evaluate.sandbox import Job

FEW_SHOT_IDS = (2, 3, 4)
TEST_RANGE = range(11, 511)  # tasks 11-510

__all__ = ["MBPP", "MBPP_HUB", "build_prompt", "load_mbpp_records", "local_mbpp"]


def _block(rec: dict, with_code: bool) -> str:
    tests = "\n".join(rec["test_list"])
    text = (
        f"You are an expert Python programmer, and here is your task: {rec['text'].strip()} "
        f"Your code should pass these tests:\n\n{tests}\n[BEGIN]\n"
    )
    if with_code:
        code = rec["code"].replace("\r\n", "\n").replace("\t", "    ")
        text += f"{code.strip()}\n[DONE]\n"
    return text


def build_prompt(shots: list[dict], rec: dict) -> str:
    return "".join(_block(s, True) + "\n" for s in shots) + _block(rec, False)


@register("mbpp")
class MBPP(Benchmark):
    name = "mbpp"
    description = "MBPP 3-shot, tasks 11-510, pass@k by execution"

    def load(self, data_dir: Path | None) -> list[Task]:
        recs = {int(r["task_id"]): r for r in load_mbpp_records(data_dir)}
        missing = [i for i in FEW_SHOT_IDS if i not in recs]
        if missing:
            raise ValueError(f"MBPP data lacks the few-shot tasks {missing}")
        shots = [recs[i] for i in FEW_SHOT_IDS]
        tasks = []
        for tid in TEST_RANGE:
            if tid in recs:
                rec = recs[tid]
                tasks.append(Task(str(tid), build_prompt(shots, rec), rec, ["[DONE]"]))
        return tasks

    def normalize_task_id(self, task_id: str) -> str:
        return task_id.removeprefix("MBPP/").removeprefix("mbpp/")

    def postprocess(self, task: Task, generation: str) -> str:
        text = super().postprocess(task, generation)
        return text.replace("[BEGIN]", "").strip("\n") + "\n"

    def instruction(self, task: Task) -> str:
        rec = task.data
        tests = "\n".join(rec["test_list"])
        return f"{rec['text'].strip()}\nYour code should pass these tests:\n\n{tests}"

    def completion_from_chat(self, task: Task, answer: str) -> str:
        return extract_code(answer, "python")

    def job(self, task: Task, completion: str, timeout: float) -> Job:
        # The tests run in the sandbox's checker process, out of the model code's reach.
        rec = task.data
        return Job(
            kind="python",
            code=(rec.get("test_setup_code") or "") + "\n" + completion + "\n",
            check="\n".join(rec["test_list"]) + "\n",
            timeout=timeout,
        )
