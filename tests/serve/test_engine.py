"""The local engine: batched decoding equals one-by-one decoding; stop-string streaming."""

from __future__ import annotations

import queue

from repoloom.inference.base import Done, Event, Job, SamplingParams, StopChecker

from .conftest import make_engine


def _run(engine, prompts: list[str], max_tokens: int = 10) -> list[str]:
    """Submit all prompts at once (the worker batches what is waiting); greedy texts."""
    outs: list[queue.Queue] = []
    for p in prompts:
        q: queue.Queue = queue.Queue()
        engine.submit(Job(p, SamplingParams(max_tokens=max_tokens, temperature=0.0)), q.put)
        outs.append(q)
    texts = []
    for q in outs:
        text = ""
        while True:
            ev = q.get(timeout=60)
            if isinstance(ev, Done):
                break
            assert isinstance(ev, Event)
            text += ev.text
        texts.append(text)
    return texts


def test_batched_left_padded_decoding_equals_single(tiny_dir):
    prompts = ["x", "def quick_sort(values):\n    if len(values) <= 1:", "import os\n", "class A:"]
    single = make_engine(tiny_dir, max_batch=1)
    batched = make_engine(tiny_dir, max_batch=8)
    try:
        alone = [_run(single, [p])[0] for p in prompts]
        together = _run(batched, prompts)
        assert batched.stats["batches"] < len(prompts)  # at least two shared a batch
    finally:
        single.close()
        batched.close()
    assert together == alone


def test_stop_checker():
    c = StopChecker(["\n\n", "END"])
    assert c.find("abc\n\nd") == 3
    assert c.find("xxEND\n\n") == 2
    assert c.find("abc") == -1
    assert c.safe_length("abc\n") == 3  # "\n" may start "\n\n"
    assert c.safe_length("abcEN") == 3
    assert c.safe_length("abc") == 3
    assert c.safe_length("ab\ufffd") == 2  # incomplete UTF-8 is held back
    assert StopChecker([]).safe_length("a\n") == 2


def test_generation_failure_is_reported_not_truncated(tiny_dir):
    engine = make_engine(tiny_dir)
    real = engine.model

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    try:
        engine.model = broken
        q: queue.Queue = queue.Queue()
        engine.submit(Job("def f():", SamplingParams(max_tokens=4, temperature=0.0)), q.put)
        ev = q.get(timeout=60)
        assert isinstance(ev, Done) and ev.error is not None and ev.error.status == 500
        assert "simulated" in str(ev.error)
        engine.model = real  # the worker survived and serves the next request
        q2: queue.Queue = queue.Queue()
        engine.submit(
            Job("def f():", SamplingParams(max_tokens=2, temperature=0.0, ignore_eos=True)), q2.put
        )
        while not isinstance(ev := q2.get(timeout=60), Done):
            pass
        assert ev.error is None and ev.completion_tokens >= 1
    finally:
        engine.close()


def test_jobs_join_a_running_batch_and_decode_the_same(tiny_dir):
    """Continuous batching: jobs arriving mid-generation join the running batch (their caches
    left-padded to its length) and still decode exactly as they do alone."""
    prompts = ["import os\n", "def quick_sort(values):\n    if len(values) <= 1:", "x"]
    single = make_engine(tiny_dir, max_batch=1)
    try:
        alone = [_run(single, [p], max_tokens=6)[0] for p in prompts]
        params = SamplingParams(max_tokens=40, temperature=0.0, ignore_eos=True)
        q0: queue.Queue = queue.Queue()
        single.submit(Job("class A:", params), q0.put)
        long_alone = ""
        while not isinstance(ev := q0.get(timeout=60), Done):
            long_alone += ev.text
    finally:
        single.close()
    engine = make_engine(tiny_dir, max_batch=8)
    try:
        q: queue.Queue = queue.Queue()
        engine.submit(Job("class A:", params), q.put)
        first = q.get(timeout=60)  # the long job is decoding now
        assert isinstance(first, Event)
        joined = _run(engine, prompts, max_tokens=6)
        long_text = first.text
        while not isinstance(ev := q.get(timeout=60), Done):
            long_text += ev.text
        assert engine.stats["joined"] >= 1 and engine.stats["batches"] < 1 + len(prompts)
    finally:
        engine.close()
    assert joined == alone
    assert long_text == long_alone  # rows joining and leaving did not disturb the running one


def test_job_larger_than_the_room_waits_for_the_next_batch(tiny_dir):
    engine = make_engine(tiny_dir, max_batch=4)
    try:
        queues = [queue.Queue() for _ in range(3)]
        long = SamplingParams(max_tokens=30, temperature=0.0, ignore_eos=True)
        engine.submit(Job("class A:", long), queues[0].put)
        assert isinstance(queues[0].get(timeout=60), Event)
        engine.submit(Job("x", SamplingParams(max_tokens=3, temperature=0.0, n=4)), queues[1].put)
        engine.submit(Job("y", SamplingParams(max_tokens=3, temperature=0.0)), queues[2].put)
        texts: list[dict[int, str]] = []
        for q in queues:
            got: dict[int, str] = {}
            while not isinstance(ev := q.get(timeout=60), Done):
                got[ev.index] = got.get(ev.index, "") + ev.text
            assert ev.error is None
            texts.append(got)
        assert sorted(texts[1]) == [0, 1, 2, 3] and len(set(texts[1].values())) == 1  # greedy
        assert engine.stats["completed"] == 3
    finally:
        engine.close()
