"""Repository-aware prompts: the files the current file depends on, placed before it.

This reuses the corpus builder's code (one implementation of dependency parsing and ordering), so
the prompt looks like a repository-level training sample (PAPER_NOTES section 1): each context file
rendered with ``repoloom.codebase.render.render_file`` (``# path`` header, text, newline), in the
order ``repoloom.codebase.order.order_files`` gives (dependencies first, the corpus default mode),
then the current file with its own header, cut at the cursor into the FIM prefix and suffix.

Budget rule (``select_context``): the candidates are the files the current file depends on,
directly or transitively (breadth-first over the import edges; distance 1 = imported by the
current file, 2 = imported by one of those, ...). They are considered nearest first (smaller
distance first; at equal distance the one the corpus order puts later, i.e. closer to the current
file, first) and each is kept whole if its rendered tokens still fit the remaining budget,
otherwise dropped (a later, smaller file may still fit). Files are never truncated. The kept files
are then written in corpus order. The current file is never dropped: when its own prefix and
suffix do not fit, the prefix is cut from the left and the suffix from the right.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repoloom.codebase.deps import parse_dependencies
from repoloom.codebase.languages import identify_language
from repoloom.codebase.order import DEFAULT_MODE, order_files
from repoloom.codebase.render import render_file
from repoloom.codebase.repo import load_repository
from repoloom.prompts import FimTemplate

CountTokens = Callable[[str], int]


@dataclass
class ContextSelection:
    included: list[str]  # in prompt order
    dropped: list[str]
    distance: dict[str, int]
    tokens: int  # tokens of the included files as rendered


@dataclass
class RepoPrompt:
    prompt: str
    path: str
    prefix: str
    suffix: str
    context: ContextSelection = field(default_factory=lambda: ContextSelection([], [], {}, 0))
    n_tokens: int = 0


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 3 characters per code token) for proxies without one."""
    return (len(text) + 2) // 3


def split_at_cursor(text: str, line: int, col: int) -> tuple[str, str]:
    """Split ``text`` at 1-based ``line``/``col`` (``col`` counts characters; len+1 = line end)."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        raise ValueError(f"line {line} is outside the file (1..{len(lines)})")
    current = lines[line - 1]
    if not 1 <= col <= len(current) + 1:
        raise ValueError(f"column {col} is outside line {line} (1..{len(current) + 1})")
    offset = sum(len(x) + 1 for x in lines[: line - 1]) + col - 1
    return text[:offset], text[offset:]


def transitive_dependencies(target: str, edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Files ``target`` depends on (edges are ``(importer, imported)``) -> breadth-first distance."""
    succ: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
    dist: dict[str, int] = {}
    todo = deque([(target, 0)])
    seen = {target}
    while todo:
        node, d = todo.popleft()
        for nxt in sorted(succ.get(node, ())):
            if nxt not in seen:
                seen.add(nxt)
                dist[nxt] = d + 1
                todo.append((nxt, d + 1))
    return dist


def select_context(
    target: str,
    texts: Mapping[str, str],
    edges: Sequence[tuple[str, str]],
    budget_tokens: int,
    count_tokens: CountTokens,
    mode: str | None = None,
) -> ContextSelection:
    """The dependency files placed before ``target`` within ``budget_tokens`` (module docstring)."""
    dist = {p: d for p, d in transitive_dependencies(target, edges).items() if p in texts}
    if not dist:
        return ContextSelection([], [], {}, 0)
    nodes = set(dist) | {target}
    sub_edges = [(a, b) for a, b in edges if a in nodes and b in nodes]
    components = order_files(sorted(nodes), sub_edges, mode or DEFAULT_MODE)
    order = [p for comp in components for p in comp if p != target]
    position = {p: i for i, p in enumerate(order)}
    remaining = max(0, budget_tokens)
    chosen: set[str] = set()
    dropped: list[str] = []
    used = 0
    for p in sorted(dist, key=lambda p: (dist[p], -position[p])):
        cost = count_tokens(render_file(p, texts[p]))
        if cost <= remaining:
            chosen.add(p)
            remaining -= cost
            used += cost
        else:
            dropped.append(p)
    return ContextSelection([p for p in order if p in chosen], dropped, dist, used)


def render_context(files: Sequence[tuple[str, str]]) -> str:
    return "".join(render_file(p, t) for p, t in files)


def fit_extra_files(
    files: Sequence[tuple[str, str]], budget_tokens: int, count_tokens: CountTokens
) -> list[tuple[str, str]]:
    """Client-given context files (``input_extra``) within a budget: the last files (nearest the
    current file) are kept first; each file whole or not at all; the given order is kept."""
    keep: list[bool] = [False] * len(files)
    remaining = max(0, budget_tokens)
    for i in range(len(files) - 1, -1, -1):
        cost = count_tokens(render_file(*files[i]))
        if cost <= remaining:
            keep[i] = True
            remaining -= cost
    return [f for f, k in zip(files, keep, strict=True) if k]


def fit_prefix_suffix(
    prefix: str, suffix: str, budget_tokens: int, count_tokens: CountTokens
) -> tuple[str, str]:
    """Cut the prefix from the left and the suffix from the right (at line boundaries where it can)
    until both fit ``budget_tokens``; the prefix keeps two thirds of the room when both are long."""
    if count_tokens(prefix) + count_tokens(suffix) <= budget_tokens:
        return prefix, suffix
    suffix_room = max(budget_tokens // 3, budget_tokens - count_tokens(prefix))
    suffix = _cut(suffix, suffix_room, count_tokens, from_left=False)
    prefix = _cut(prefix, budget_tokens - count_tokens(suffix), count_tokens, from_left=True)
    return prefix, suffix


def _cut(text: str, budget: int, count_tokens: CountTokens, *, from_left: bool) -> str:
    if budget <= 0:
        return ""
    if count_tokens(text) <= budget:
        return text
    lo, hi = 0, len(text)  # binary search on the number of characters kept
    while lo < hi:
        mid = (lo + hi + 1) // 2
        part = text[len(text) - mid :] if from_left else text[:mid]
        if count_tokens(part) <= budget:
            lo = mid
        else:
            hi = mid - 1
    part = text[len(text) - lo :] if from_left else text[:lo]
    if from_left and "\n" in part[:-1]:
        part = part[part.index("\n") + 1 :]
    elif not from_left and "\n" in part:
        part = part[: part.rindex("\n") + 1]
    return part


def fim_prompt_with_context(
    template: FimTemplate,
    prefix: str,
    suffix: str,
    *,
    path: str | None = None,
    context_files: Sequence[tuple[str, str]] = (),
) -> str:
    """``begin + context files + "# path" header + prefix + hole + suffix + end``.

    The current file gets its header only when context files precede it, as in a multi-file
    corpus sample; without context the layout is exactly the release README's.
    """
    head = ""
    if context_files:
        head = render_context(context_files)
        if path:
            head += render_file(path, "")
    return template.render(head + prefix, suffix)


def repository_prompt(
    file: str | Path,
    line: int,
    col: int,
    *,
    template: FimTemplate,
    count_tokens: CountTokens,
    budget_tokens: int,
    repo_root: str | Path | None = None,
    mode: str | None = None,
) -> RepoPrompt:
    """The repository-aware FIM prompt for a cursor in ``file`` (see the module docstring).

    ``budget_tokens`` bounds the whole prompt. Without ``repo_root`` the prompt is the plain FIM
    prompt of the file alone.
    """
    file = Path(file).resolve()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {file}: {exc}") from exc
    prefix, suffix = split_at_cursor(text, line, col)
    overhead = count_tokens(template.render("", ""))
    prefix, suffix = fit_prefix_suffix(prefix, suffix, budget_tokens - overhead, count_tokens)
    if repo_root is None:
        prompt = template.render(prefix, suffix)
        return RepoPrompt(prompt, file.name, prefix, suffix, n_tokens=count_tokens(prompt))

    root = Path(repo_root).resolve()
    try:
        rel = file.relative_to(root).as_posix()
    except ValueError:
        raise ValueError(f"{file} is not inside the repository {root}") from None
    repo = load_repository(root)
    texts = dict(repo.texts)
    languages = dict(repo.languages)
    # The editor's buffer is the truth for the current file (it may differ from what is on disk).
    texts[rel] = text
    if rel not in languages:
        languages[rel] = identify_language(rel, text[:256].encode("utf-8", "replace"))
    deps = parse_dependencies(texts, languages)
    used = overhead + count_tokens(prefix) + count_tokens(suffix)
    used += count_tokens(render_file(rel, ""))
    selection = select_context(
        rel, texts, deps.edges, budget_tokens - used, count_tokens, mode=mode
    )
    files = [(p, texts[p]) for p in selection.included]
    prompt = fim_prompt_with_context(template, prefix, suffix, path=rel, context_files=files)
    return RepoPrompt(prompt, rel, prefix, suffix, selection, count_tokens(prompt))
