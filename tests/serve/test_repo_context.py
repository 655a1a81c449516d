"""Repository-aware prompts: dependency selection, ordering, budget."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from repoloom.codebase.context import (
    fim_prompt_with_context,
    fit_extra_files,
    fit_prefix_suffix,
    repository_prompt,
    select_context,
    split_at_cursor,
    transitive_dependencies,
)
from repoloom.codebase.render import render_file
from repoloom.prompts import get_fim_template

DS = get_fim_template("deepseek")


def test_split_at_cursor():
    text = "ab\ncde\n"
    assert split_at_cursor(text, 1, 1) == ("", text)
    assert split_at_cursor(text, 2, 2) == ("ab\nc", "de\n")
    assert split_at_cursor(text, 2, 4) == ("ab\ncde", "\n")
    assert split_at_cursor(text, 3, 1) == (text, "")
    with pytest.raises(ValueError, match="line 4"):
        split_at_cursor(text, 4, 1)
    with pytest.raises(ValueError, match="column 5"):
        split_at_cursor(text, 2, 5)


def test_transitive_dependencies_with_cycle():
    edges = [("t", "a"), ("t", "b"), ("a", "c"), ("c", "a"), ("c", "t"), ("x", "t")]
    assert transitive_dependencies("t", edges) == {"a": 1, "b": 1, "c": 2}
    assert transitive_dependencies("b", edges) == {}


def test_select_context_budget_rule():
    texts = {"t": "T", "a": "A" * 100, "b": "B" * 10, "c": "C" * 10, "d": "D" * 5}
    edges = [("t", "a"), ("t", "b"), ("a", "c"), ("c", "d")]
    cost = {p: len(render_file(p, texts[p])) for p in texts}
    # Everything fits: all dependencies, in corpus order (dependencies before dependents).
    sel = select_context("t", texts, edges, 10_000, len)
    assert sorted(sel.included) == ["a", "b", "c", "d"]
    assert sel.included.index("d") < sel.included.index("c") < sel.included.index("a")
    assert sel.tokens == sum(cost[p] for p in "abcd")
    # Room for b, c and d but not the big a: a (nearest, but too big) is dropped, the farther,
    # smaller c and d still come in.
    budget = cost["b"] + cost["c"] + cost["d"] + 5
    sel = select_context("t", texts, edges, budget, len)
    assert sel.dropped == ["a"] and sorted(sel.included) == ["b", "c", "d"]
    # Room for one small file: the nearest one (b, distance 1) wins over c and d (distance 2, 3).
    sel = select_context("t", texts, edges, cost["b"], len)
    assert sel.included == ["b"]
    assert select_context("t", texts, edges, 0, len).included == []


def test_fim_prompt_without_context_is_release_layout():
    assert fim_prompt_with_context(DS, "p", "s") == "<｜fim▁begin｜>p<｜fim▁hole｜>s<｜fim▁end｜>"
    got = fim_prompt_with_context(DS, "p", "s", path="m.py", context_files=[("u.py", "x = 1")])
    assert got == "<｜fim▁begin｜># u.py\nx = 1\n# m.py\np<｜fim▁hole｜>s<｜fim▁end｜>"


def test_fit_extra_files_keeps_the_last_files_first():
    files = [("a", "x" * 50), ("b", "y" * 10), ("c", "z" * 10)]
    assert fit_extra_files(files, 40, len) == [("b", "y" * 10), ("c", "z" * 10)]
    assert fit_extra_files(files, 1000, len) == files
    assert fit_extra_files(files, 0, len) == []


def test_fit_prefix_suffix_cuts_far_ends():
    prefix = "".join(f"line{i}\n" for i in range(100))
    suffix = "".join(f"after{i}\n" for i in range(100))
    p, s = fit_prefix_suffix(prefix, suffix, 300, len)
    assert len(p) + len(s) <= 300
    assert prefix.endswith(p) and suffix.startswith(s)  # kept the text near the cursor
    assert p.startswith("line") and s.endswith("\n")  # cut at line boundaries
    assert len(p) > len(s)


@pytest.fixture(scope="module")
def real_repo(tmp_path_factory) -> Path:
    """A real multi-file repository: the installed httpx package's source tree."""
    import httpx

    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(
        Path(httpx.__file__).parent, root / "httpx", ignore=shutil.ignore_patterns("__pycache__")
    )
    return root


def _headers(prompt: str) -> list[str]:
    body = prompt.removeprefix(DS.begin).split(DS.hole)[0]
    return [line[2:] for line in body.split("\n") if line.startswith("# httpx/")]


def test_repository_prompt_on_real_repository(real_repo, engine):
    from repoloom.codebase.deps import parse_dependencies
    from repoloom.codebase.order import order_files
    from repoloom.codebase.repo import load_repository

    target = real_repo / "httpx" / "_client.py"
    lines = target.read_text().split("\n")
    line = next(i for i, x in enumerate(lines, 1) if x.startswith("class Client("))
    count = engine.count_tokens
    big = repository_prompt(
        target, line, 1, template=DS, count_tokens=count, budget_tokens=10**7, repo_root=real_repo
    )
    repo = load_repository(real_repo)
    deps = parse_dependencies(repo.texts, repo.languages)
    want = transitive_dependencies("httpx/_client.py", deps.edges)
    assert len(want) >= 10  # a real dependency structure
    nodes = sorted(set(want) | {"httpx/_client.py"})
    sub = [(a, b) for a, b in deps.edges if a in nodes and b in nodes]
    order = [p for comp in order_files(nodes, sub) for p in comp if p != "httpx/_client.py"]
    # All dependencies, in the corpus order, each with its "# path" header, then the file itself.
    assert _headers(big.prompt) == [*order, "httpx/_client.py"]
    for p in order:
        assert render_file(p, repo.texts[p]) in big.prompt
    assert big.prompt.startswith(DS.begin) and big.prompt.endswith(DS.end)
    assert big.prompt.split(DS.hole)[1].startswith("class Client(")  # suffix starts at the cursor
    assert big.prompt.split(DS.hole)[0].endswith("\n\n\n")
    assert big.n_tokens == count(big.prompt)

    budget = big.n_tokens // 3
    small = repository_prompt(
        target, line, 1, template=DS, count_tokens=count, budget_tokens=budget, repo_root=real_repo
    )
    assert small.n_tokens <= budget
    inc, drop, dist = small.context.included, small.context.dropped, small.context.distance
    assert inc and drop and sorted(inc + drop) == sorted(want)
    assert _headers(small.prompt) == [p for p in order if p in inc] + ["httpx/_client.py"]
    # Greedy nearest-first: a farther file only beats a nearer one by being smaller.
    cost = {p: count(render_file(p, repo.texts[p])) for p in want}
    for i in inc:
        for d in drop:
            if dist[i] > dist[d]:
                assert cost[i] < cost[d], (i, d)


def test_repository_prompt_errors(real_repo, tmp_path, engine):
    f = real_repo / "httpx" / "_api.py"
    with pytest.raises(ValueError, match="line"):
        repository_prompt(f, 10**6, 1, template=DS, count_tokens=len, budget_tokens=100)
    other = tmp_path / "x.py"
    other.write_text("x = 1\n")
    with pytest.raises(ValueError, match="not inside"):
        repository_prompt(
            other, 1, 1, template=DS, count_tokens=len, budget_tokens=100, repo_root=real_repo
        )
