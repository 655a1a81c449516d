"""Cross-file context for a completion point, in three variants, under a token budget.

``none``
    No cross-file context: the prompt is the in-file left context.
``bm25``
    CrossCodeEval's retrieval: the other files of the repository in the point's language are
    cut into chunks of 10 non-blank lines (window 10, stride 10: CrossCodeEval's
    ``CHUNK_SIZE = SLIDING_WINDOW_SIZE = 10``); the query is the last 10 non-blank lines of the
    left context; chunks are ranked with Okapi BM25 (``rank_bm25.BM25Okapi``: k1 1.5, b 0.75,
    negative IDF replaced by 0.25 x the mean IDF) over ``\\w+`` tokens; as CrossCodeEval's
    default (``use_next_chunk_as_cfc``) each hit contributes the chunk that *follows* it in its
    file (the hit itself when it is the last), duplicates skipped, top 5. Rendered as comment
    lines (``#`` for Python, ``//`` otherwise) with CrossCodeEval's header and per-fragment
    "the below code fragment is found in PATH" line; fragments are added while the total stays
    within the budget (512 tokens).
``deps``
    repoloom's repository-level layout: the files the current file imports (direct dependency
    edges of ``repoloom.codebase.deps``), in the corpus builder's dependency order
    (``repoloom.codebase.order``), each rendered as in a corpus sample (``# path`` header line and
    the file), then the current file's own header line. Over budget, whole lines are dropped
    from the front, i.e. the model sees the tail of the sample that ends where the current file
    starts, as a training window would.

The current file never contributes to ``bm25`` or ``deps`` context.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from repoloom.codebase.deps import PARSED_LANGUAGES, parse_dependencies
from repoloom.codebase.languages import BY_NAME
from repoloom.codebase.order import order_files
from repoloom.codebase.render import render_file
from repoloom.evaluate.crossfile.point import CrossfilePoint

MODES = ("none", "bm25", "deps")
CHUNK_LINES = 10
CHUNK_STRIDE = 10
QUERY_LINES = 10
TOP_K = 5
MAX_CONTEXT_TOKENS = 512  # CrossCodeEval's cross-file budget
MAX_SEQUENCE_TOKENS = 2048  # prompt + generation
MAX_NEW_TOKENS = 50
BM25_K1 = 1.5
BM25_B = 0.75
BM25_EPSILON = 0.25
# Characters of dependency text stored per point in a benchmark file: far more than 512 tokens
# of any tokenizer, so rendering from the stored tail equals rendering from the whole files.
DEPS_STORE_CHARS = 32_000

_WORD = re.compile(r"\w+")


def comment_prefix(language: str) -> str:
    """The line-comment prefix the context is rendered behind: the language table's first
    comment prefix (CrossCodeEval's ``#`` for Python, ``//`` for Java, TypeScript and C#)."""
    row = BY_NAME.get(language)
    return row.comments[0] if row is not None else "//"


def tokenize(text: str) -> list[str]:
    return _WORD.findall(text)


@dataclass
class Fragment:
    """A piece of cross-file context: a chunk (bm25) or a file (deps)."""

    path: str
    text: str
    score: float | None = None
    truncated: bool = False  # deps: only the tail of the file is kept (see DEPS_STORE_CHARS)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Fragment:
        return cls(d["path"], d["text"], d.get("score"), bool(d.get("truncated", False)))


def chunk_lines(text: str, size: int = CHUNK_LINES, stride: int = CHUNK_STRIDE) -> list[str]:
    """CrossCodeEval's chunks: blank lines removed, windows of ``size`` lines every ``stride``;
    a chunk without any word token is skipped."""
    lines = [line for line in text.split("\n") if line.strip()]
    out = []
    for i in range(0, len(lines), stride):
        chunk = "\n".join(lines[i : i + size])
        if _WORD.search(chunk):
            out.append(chunk)
    return out


def query_of(left_context: str, n_lines: int = QUERY_LINES) -> str:
    lines = [line for line in left_context.split("\n") if line.strip()]
    return "\n".join(lines[-n_lines:])


@dataclass
class _Chunk:
    path: str
    index: int
    text: str
    tf: Counter
    length: int


@dataclass
class RepoContext:
    """Per-repository indexes for retrieval (chunks, dependency edges and order)."""

    files: Mapping[str, str]
    languages: Mapping[str, str | None]
    _chunks: dict[str, list[_Chunk]] = field(default_factory=dict)  # by path
    _deps: dict[str, list[str]] | None = None
    _position: dict[str, int] | None = None

    def chunks(self, path: str) -> list[_Chunk]:
        if path not in self._chunks:
            self._chunks[path] = [
                _Chunk(path, i, c, Counter(toks), len(toks))
                for i, c in enumerate(chunk_lines(self.files[path]))
                for toks in [tokenize(c)]
            ]
        return self._chunks[path]

    def _dependency_index(self) -> None:
        result = parse_dependencies(self.files, self.languages)
        deps: dict[str, list[str]] = {}
        for importer, imported in result.edges:
            if importer != imported:
                deps.setdefault(importer, []).append(imported)
        parsed = [p for p in sorted(self.files) if self.languages.get(p) in PARSED_LANGUAGES]
        position: dict[str, int] = {}
        for component in order_files(parsed, result.edges):
            for p in component:
                position[p] = len(position)
        self._deps = deps
        self._position = position

    def dependencies(self, path: str) -> list[str]:
        """Files ``path`` imports directly, in the corpus builder's dependency order."""
        if self._deps is None:
            self._dependency_index()
        assert self._deps is not None and self._position is not None
        pos = self._position
        return sorted(set(self._deps.get(path, ())), key=lambda p: (pos.get(p, len(pos)), p))

    def edges(self) -> dict[str, list[str]]:
        if self._deps is None:
            self._dependency_index()
        assert self._deps is not None
        return self._deps

    # --- retrieval -----------------------------------------------------------------------

    def bm25_fragments(
        self, path: str, language: str, left_context: str, top_k: int = TOP_K
    ) -> list[Fragment]:
        candidates = [
            c
            for p in sorted(self.files)
            if p != path and self.languages.get(p) == language
            for c in self.chunks(p)
        ]
        if not candidates:
            return []
        query = tokenize(query_of(left_context))
        scores = bm25_scores(query, [c.tf for c in candidates], [c.length for c in candidates])
        ranked = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))
        out: list[Fragment] = []
        seen: set[str] = set()
        for i in ranked:
            hit = candidates[i]
            file_chunks = self.chunks(hit.path)
            chosen = file_chunks[hit.index + 1] if hit.index + 1 < len(file_chunks) else hit
            if chosen.text in seen:
                continue
            seen.add(chosen.text)
            out.append(Fragment(chosen.path, chosen.text, round(float(scores[i]), 6)))
            if len(out) == top_k:
                break
        return out

    def deps_fragments(self, path: str, max_chars: int | None = None) -> list[Fragment]:
        frags = [Fragment(p, self.files[p]) for p in self.dependencies(path) if p != path]
        if max_chars is None:
            return frags
        kept: list[Fragment] = []
        total = 0
        for frag in reversed(frags):  # keep the tail: rendering drops from the front
            size = len(frag.text) + len(frag.path) + 3
            if total + size > max_chars:
                room = max_chars - total
                if room > 0:
                    tail = frag.text[-room:]
                    tail = tail.split("\n", 1)[1] if "\n" in tail else ""
                    kept.append(Fragment(frag.path, tail, truncated=True))
                break
            kept.append(frag)
            total += size
        return list(reversed(kept))

    def fragments(self, point: CrossfilePoint, mode: str, **kw: Any) -> list[Fragment]:
        check_mode(mode)
        if mode == "bm25":
            return self.bm25_fragments(point.path, point.language, point.left_context)
        if mode == "deps":
            return self.deps_fragments(point.path, **kw)
        return []


def bm25_scores(
    query: Sequence[str], docs_tf: Sequence[Counter], doc_lengths: Sequence[int]
) -> list[float]:
    """Okapi BM25 scores of ``query`` against each document, as ``rank_bm25.BM25Okapi``."""
    n = len(docs_tf)
    if n == 0:
        return []
    avgdl = sum(doc_lengths) / n or 1.0
    df: Counter = Counter()
    for tf in docs_tf:
        df.update(tf.keys())
    idf: dict[str, float] = {}
    negative = []
    for term, freq in df.items():
        value = math.log(n - freq + 0.5) - math.log(freq + 0.5)
        idf[term] = value
        if value < 0:
            negative.append(term)
    eps = BM25_EPSILON * (sum(idf.values()) / len(idf)) if idf else 0.0
    for term in negative:
        idf[term] = eps
    scores = [0.0] * n
    for q in query:
        w = idf.get(q)
        if w is None:
            continue
        for i, tf in enumerate(docs_tf):
            f = tf.get(q, 0)
            if f:
                denom = f + BM25_K1 * (1 - BM25_B + BM25_B * doc_lengths[i] / avgdl)
                scores[i] += w * f * (BM25_K1 + 1) / denom
    return scores


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown cross-file context mode {mode!r}; expected one of {MODES}")


def render_bm25(
    fragments: Sequence[Fragment],
    language: str,
    count_tokens: Callable[[str], int],
    max_tokens: int = MAX_CONTEXT_TOKENS,
) -> str:
    """CrossCodeEval's rendering and budget (``prepare_features_cfc``)."""
    sym = comment_prefix(language)
    head = f"{sym} Here are some relevant code fragments from other files of the repo:\n\n"
    used = count_tokens(head)
    body = ""
    for frag in fragments:
        piece = f"{sym} the below code fragment is found in {frag.path}\n"
        piece += "\n".join(f"{sym} {line}" for line in frag.text.split("\n") if line) + "\n\n"
        n = count_tokens(piece)
        if used + n > max_tokens:
            break
        body += piece
        used += n
    if not body:
        return ""
    text = head + body
    while count_tokens(text) > max_tokens and "\n\n" in text.rstrip("\n"):
        # Joint tokenization can exceed the sum of the parts by a token or two.
        text = text.rstrip("\n").rsplit("\n\n", 1)[0] + "\n\n"
    return text if text != head and count_tokens(text) <= max_tokens else ""


def render_deps(
    fragments: Sequence[Fragment],
    path: str,
    count_tokens: Callable[[str], int],
    max_tokens: int = MAX_CONTEXT_TOKENS,
) -> str:
    """Dependency files as in a corpus sample, then the current file's header; tail-truncated
    by whole lines to ``max_tokens``."""
    own = render_file(path, "").rstrip("\n") + "\n"
    if not fragments:
        return own if count_tokens(own) <= max_tokens else ""
    parts = []
    for frag in fragments:
        if frag.truncated:
            parts.append(
                frag.text if frag.text.endswith("\n") or not frag.text else frag.text + "\n"
            )
        else:
            parts.append(render_file(frag.path, frag.text))
    text = "".join(parts) + own
    # Only the tail can survive: search within its last characters (a token spans far fewer
    # than 64 characters), unless that tail turns out to fit whole.
    cap = max(DEPS_STORE_CHARS, 64 * max_tokens)
    if len(text) > cap:
        tail = text[-cap:]
        tail = tail.split("\n", 1)[1] if "\n" in tail else tail
        if count_tokens(tail) > max_tokens:
            text = tail
    if count_tokens(text) <= max_tokens:
        return text
    lines = text.splitlines(keepends=True)
    lo, hi = 0, len(lines)  # smallest start index whose tail fits
    while lo < hi:
        mid = (lo + hi) // 2
        if count_tokens("".join(lines[mid:])) <= max_tokens:
            hi = mid
        else:
            lo = mid + 1
    return "".join(lines[lo:])


def render(
    fragments: Sequence[Fragment],
    mode: str,
    language: str,
    path: str,
    count_tokens: Callable[[str], int],
    max_tokens: int = MAX_CONTEXT_TOKENS,
) -> str:
    check_mode(mode)
    if mode == "bm25":
        return render_bm25(fragments, language, count_tokens, max_tokens)
    if mode == "deps":
        return render_deps(fragments, path, count_tokens, max_tokens)
    return ""


_REPO_CACHE: dict[str, RepoContext] = {}


def _fingerprint(files: Mapping[str, str], languages: Mapping[str, str | None]) -> str:
    h = hashlib.sha1()
    for p in sorted(files):
        h.update(p.encode("utf-8", "surrogatepass") + b"\0")
        h.update(str(languages.get(p)).encode() + b"\0")
        h.update(hashlib.sha1(files[p].encode("utf-8", "surrogatepass")).digest())
    return h.hexdigest()


def repo_context(files: Mapping[str, str], languages: Mapping[str, str | None]) -> RepoContext:
    """The (cached) indexes of one repository; the cache holds the last few repositories."""
    key = _fingerprint(files, languages)
    ctx = _REPO_CACHE.get(key)
    if ctx is None:
        if len(_REPO_CACHE) >= 4:
            _REPO_CACHE.pop(next(iter(_REPO_CACHE)))
        ctx = _REPO_CACHE[key] = RepoContext(dict(files), dict(languages))
    return ctx


def crossfile_context(
    point: CrossfilePoint,
    files: Mapping[str, str],
    languages: Mapping[str, str | None],
    mode: str,
    count_tokens: Callable[[str], int],
    max_tokens: int = MAX_CONTEXT_TOKENS,
) -> str:
    """The cross-file context to put before ``point.left_context`` (``""`` for ``none``).

    ``files``/``languages``: the repository's texts and languages (``load_repository(root)``);
    ``count_tokens``: the model tokenizer's token count of a text (no special tokens).
    """
    check_mode(mode)
    if mode == "none":
        return ""
    ctx = repo_context(files, languages)
    return render(
        ctx.fragments(point, mode), mode, point.language, point.path, count_tokens, max_tokens
    )


def truncate_left(text: str, max_tokens: int, tokenizer: Any) -> str:
    """The longest suffix of ``text`` of at most ``max_tokens`` tokens (a HF tokenizer)."""
    if max_tokens <= 0:
        return ""
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        if len(offsets) <= max_tokens:
            return text
        return text[offsets[len(offsets) - max_tokens][0] :]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text
    return tokenizer.decode(ids[-max_tokens:])


def assemble_prompt(
    context: str,
    left_context: str,
    tokenizer: Any,
    max_prompt_tokens: int = MAX_SEQUENCE_TOKENS - MAX_NEW_TOKENS,
) -> str:
    """CrossCodeEval's prompt: cross-file context, then the left context left-truncated so the
    whole prompt (special tokens included) fits ``max_prompt_tokens`` (2048 - 50)."""
    n_special = len(tokenizer("")["input_ids"])
    n_context = len(tokenizer(context, add_special_tokens=False)["input_ids"]) if context else 0
    budget = max_prompt_tokens - n_special - n_context
    while True:
        prompt = context + truncate_left(left_context, budget, tokenizer)
        excess = len(tokenizer(prompt)["input_ids"]) - max_prompt_tokens
        if excess <= 0 or budget <= 0:  # tokens can merge across the join: trim once more
            return prompt
        budget -= excess


def token_counter(tokenizer: Any) -> Callable[[str], int]:
    """``count_tokens`` for a HF tokenizer (no special tokens)."""

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0

    return count
