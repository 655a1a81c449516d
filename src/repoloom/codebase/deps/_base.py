"""Shared pieces of the dependency parsers: the repository index, lexical masking, path helpers.

Every language module works on *masked* text: comments are replaced by spaces and the contents of
string literals by spaces, keeping every character offset and every newline. Statement regexes
run on the masked text (so commented-out imports and imports quoted inside strings never match),
and the literal of a statement (an include path, a JS specifier) is read from the original text at
the same offsets.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# Only the first MAX_PARSE_CHARS characters of a file are parsed. Imports sit at the top of a file;
# the cap bounds the time spent on generated or minified giants (the corpus caps files at 1 MB).
MAX_PARSE_CHARS = 1_000_000


@dataclass(frozen=True)
class Found:
    """One dependency statement of a file (or, with ``counted=False``, an implicit reference).

    ``targets``: repository files it resolves to (may be empty). ``resolved``: the statement names
    something inside the repository (normally ``bool(targets)``; a C# ``using`` of a repository
    namespace whose types the file never mentions is resolved with no target).
    """

    targets: tuple[str, ...]
    resolved: bool
    counted: bool = True


def found(targets: Iterable[str], counted: bool = True) -> Found:
    t = tuple(sorted(set(targets)))
    return Found(t, bool(t), counted)


# ---------------------------------------------------------------------------------------------
# Lexical masking


def _blank(s: str) -> str:
    """Spaces for every character except newlines (offsets and line numbers are kept)."""
    if "\n" not in s:
        return " " * len(s)
    return "\n".join(" " * len(part) for part in s.split("\n"))


def _mask_string(s: str, open_len: int, close_len: int) -> str:
    if len(s) < open_len + close_len:
        return _blank(s)
    end = len(s) - close_len
    return s[:open_len] + _blank(s[open_len:end]) + s[end:]


# Each token regex has named groups: ``c`` for a comment, ``s`` for a string literal whose
# delimiter is one character on each side, and ``t`` for a literal with longer delimiters
# (handled by ``_mask_long``).
# Possessive runs (``++``, ``*+``) keep every alternative linear and let the regex engine skip
# ordinary code quickly.
_C_COMMENTS = r"(?P<c>//[^\n]*+|/\*(?:[^*]++|\*(?!/))*+(?:\*/|\Z))"
_DQ = r'"(?:[^"\\\n]++|\\.)*+"'
_SQ = r"'(?:[^'\\\n]++|\\.)*+'"

TOKENS: dict[str, re.Pattern[str]] = {
    "c": re.compile(
        _C_COMMENTS + r'|(?P<t>R"(?P<d>[^()\\\s"]{0,16})\(.*?\)(?P=d)")' + rf"|(?P<s>{_DQ}|{_SQ})",
        re.S,
    ),
    "java": re.compile(
        _C_COMMENTS + r'|(?P<t>"""(?:[^"\\]++|\\.|"(?!""))*+""")' + rf"|(?P<s>{_DQ}|{_SQ})",
        re.S,
    ),
    "csharp": re.compile(
        _C_COMMENTS
        + r'|(?P<t>"""(?:.*?)"""|\$?@\$?"(?:[^"]++|"")*+")'
        + rf"|(?P<s>\$?{_DQ}|{_SQ})",
        re.S,
    ),
    "go": re.compile(_C_COMMENTS + r"|(?P<s>`[^`]*+`" + rf"|{_DQ}|{_SQ})", re.S),
    "rust": re.compile(
        _C_COMMENTS
        + r'|(?P<t>(?<!\w)b?r(?P<h>#*)".*?"(?P=h))'
        + rf"|(?P<s>b?{_DQ}"
        + r"|b?'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]{1,6}\}|.)|[^'\\\n])')",
        re.S,
    ),
    "js": re.compile(
        _C_COMMENTS
        + rf"|(?P<s>{_DQ}|{_SQ}"
        + r"|`(?:[^`\\]++|\\.)*+`)"
        # A regex literal: a slash where an expression starts (after an operator or bracket).
        + r"|(?P<r>(?<=[(,=:\[!&|?{};+\-*%<>~^])[ \t]*/(?![*/])"
        + r"(?:[^/\\\n\[]++|\\.|\[(?:[^\]\\\n]++|\\.)*+\])++/)",
        re.S,
    ),
    "php": re.compile(
        r"(?P<c>//[^\n]*+|#(?!\[)[^\n]*+|/\*(?:[^*]++|\*(?!/))*+(?:\*/|\Z))"
        + rf"|(?P<s>{_DQ}|{_SQ})",
        re.S,
    ),
    # String prefixes (r, b, f, u) stay in place: only the quotes delimit the literal.
    "python": re.compile(
        r"(?P<c>#[^\n]*+)"
        r"|(?P<t>'''(?:[^'\\]++|\\.|'(?!''))*+(?:'''|\Z)"
        r'|"""(?:[^"\\]++|\\.|"(?!""))*+(?:"""|\Z))'
        rf"|(?P<s>{_DQ}|{_SQ})",
        re.S,
    ),
}


# The characters each style's tokens can start with. A leading lookahead on them lets the regex
# engine reject every other position at once (sre finds no literal prefix in a branch of named
# groups, so without it every alternative is tried at every character): 2x on Java sources.
_FIRST_CHARS = {
    "c": "/\"'R",
    "java": "/\"'",
    "csharp": "/\"'$@",
    "go": "/\"'`",
    "rust": "/\"'br",
    "js": "/\"'` \t",
    "php": "/\"'#",
    "python": "#\"'",
}
TOKENS = {
    style: re.compile(f"(?=[{re.escape(_FIRST_CHARS[style])}])(?:{pattern.pattern})", pattern.flags)
    for style, pattern in TOKENS.items()
}


def _mask_long(s: str) -> str:
    """Mask a literal with multi-character delimiters, keeping the delimiters."""
    if s.endswith('"""') and '"""' in s[: len(s) - 3]:
        start = s.index('"""') + 3
        return s[:start] + _blank(s[start:-3]) + '"""'
    if s.endswith("'''") and "'''" in s[: len(s) - 3]:
        start = s.index("'''") + 3
        return s[:start] + _blank(s[start:-3]) + "'''"
    q = s.find('"')
    if q < 0:
        q = s.find("'")
    if q < 0:
        return _blank(s)
    # Closing delimiter: the mirror of what precedes the first quote (raw strings: `"##`).
    tail = len(s) - 1
    return s[: q + 1] + _blank(s[q + 1 : tail]) + s[tail:]


def mask(text: str, style: str) -> str:
    """Return ``text`` with comments blanked and string contents blanked (same length)."""
    pattern = TOKENS[style]

    def repl(m: re.Match[str]) -> str:
        kind = m.lastgroup
        s = m.group()
        if kind == "c":
            return _blank(s)
        if kind == "s":
            q = 2 if s[:2] in ('$"', 'b"', "b'") else 1
            return _mask_string(s, q, 1)
        if kind == "r":
            stripped = s.lstrip(" \t")
            lead = len(s) - len(stripped)
            return s[:lead] + _mask_string(stripped, 1, 1)
        # "t" and its sub-groups (d, h) end with the outer group: lastgroup is the outer name.
        return _mask_long(s)

    return pattern.sub(repl, text)


IDENT = re.compile(r"[A-Za-z_$][\w$]*")


def starts_token(text: str, pos: int, joiners: str = "_$.") -> bool:
    """True when the match at ``pos`` is not the tail of a longer identifier or member access.

    Statement regexes start with a literal keyword (no leading look-behind), which lets the
    regex engine jump between candidate positions; this check replaces the look-behind.
    """
    if pos == 0:
        return True
    c = text[pos - 1]
    if c == "." and text[max(0, pos - 3) : pos] == "...":  # JS spread: `...require("x")`
        return True
    return not (c.isalnum() or c in joiners)


# ---------------------------------------------------------------------------------------------
# Repository index


def qualified_names(
    text: str, qualified: re.Pattern[str], pkg_before: re.Pattern[str], lookback: int = 200
) -> Iterator[tuple[str, str]]:
    """(package, name) of each inline fully qualified reference ``pkg.path.Name`` in ``text``:
    `qualified` matches ``.Name`` (the name in group 1), `pkg_before` the package that ends right
    before it, searched in the `lookback` characters before (a package reaching back to that edge
    may be cut short, so it is passed over)."""
    for m in qualified.finditer(text):
        pkg = pkg_before.search(text, max(0, m.start() - lookback), m.start())
        if pkg is None or (pkg.start() > 0 and pkg.start() == m.start() - lookback):
            continue
        yield pkg.group(), m.group(1)


def norm(path: str) -> str | None:
    """Normalise a repo-relative POSIX path; None when it leaves the repository."""
    if not path:
        return None
    p = posixpath.normpath(path)
    if p.startswith("../") or p == ".." or p.startswith("/"):
        return None
    return "" if p == "." else p


def dirname(path: str) -> str:
    return posixpath.dirname(path)


def join(*parts: str) -> str:
    return posixpath.join(*[p for p in parts if p])


@dataclass
class Repo:
    """The files of one repository with lazily built indexes shared by the language modules."""

    files: Mapping[str, str]
    languages: Mapping[str, str | None]
    _masked: dict[tuple[str, str], str] = field(default_factory=dict)
    _idents: dict[str, frozenset[str]] = field(default_factory=dict)
    _dirs: dict[str, list[str]] | None = None
    _all_dirs: frozenset[str] | None = None
    _basenames: dict[str, list[str]] | None = None
    memo: dict[tuple[str, ...], Any] = field(default_factory=dict)  # per-repository lookups

    def __post_init__(self) -> None:
        self.paths: frozenset[str] = frozenset(self.files)

    def text(self, path: str) -> str:
        t = self.files.get(path, "")
        if not isinstance(t, str):
            return ""
        return t[:MAX_PARSE_CHARS]

    def masked(self, path: str, style: str) -> str:
        key = (path, style)
        m = self._masked.get(key)
        if m is None:
            m = mask(self.text(path), style)
            self._masked[key] = m
        return m

    def identifiers(self, path: str, style: str) -> frozenset[str]:
        ids = self._idents.get(path)
        if ids is None:
            ids = frozenset(IDENT.findall(self.masked(path, style)))
            self._idents[path] = ids
        return ids

    @property
    def dir_files(self) -> dict[str, list[str]]:
        """Directory -> files directly inside it (sorted)."""
        if self._dirs is None:
            d: dict[str, list[str]] = {}
            for p in sorted(self.paths):
                d.setdefault(dirname(p), []).append(p)
            self._dirs = d
        return self._dirs

    @property
    def all_dirs(self) -> frozenset[str]:
        """Every directory that holds a file, directly or below it ("" is the root)."""
        if self._all_dirs is None:
            s: set[str] = {""}
            for d in self.dir_files:
                while d and d not in s:
                    s.add(d)
                    d = dirname(d)
            self._all_dirs = frozenset(s)
        return self._all_dirs

    @property
    def by_basename(self) -> dict[str, list[str]]:
        if self._basenames is None:
            b: dict[str, list[str]] = {}
            for p in sorted(self.paths):
                b.setdefault(posixpath.basename(p), []).append(p)
            self._basenames = b
        return self._basenames

    def nearest_file(self, start_dir: str, name: str) -> str | None:
        """The file ``name`` in ``start_dir`` or the closest directory above it."""
        d = start_dir
        while True:
            p = join(d, name)
            if p in self.paths:
                return p
            if not d:
                return None
            d = dirname(d)


def common_prefix_len(a: str, b: str) -> int:
    """Number of leading path components two paths share."""
    n = 0
    for x, y in zip(a.split("/"), b.split("/"), strict=False):
        if x != y:
            break
        n += 1
    return n


def closest(importer: str, candidates: Iterable[str]) -> str | None:
    """Deterministic choice among same-named candidates: the one sharing the most leading
    directories with the importer, then the shortest path, then path order."""
    best: tuple[int, int, str] | None = None
    for c in candidates:
        key = (-common_prefix_len(dirname(importer), dirname(c)), c.count("/"), c)
        if best is None or key < best:
            best = key
    return None if best is None else best[2]


def quoted_at(original: str, masked: str, quote_pos: int) -> str | None:
    """The literal whose opening quote is at ``quote_pos`` (contents read from the original)."""
    q = masked[quote_pos]
    end = masked.find(q, quote_pos + 1)
    if end < 0 or "\n" in masked[quote_pos:end]:
        return None
    return original[quote_pos + 1 : end]
