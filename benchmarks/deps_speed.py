"""Regex versus tree-sitter for finding dependency statements, on the real files of
``deps_accuracy.py``'s corpus: do both find the same statements, and how fast is each?

For every file both extractors produce the list of statement *targets* in a canonical form
(Python: the module of ``import m`` / ``from m import``; Java: the imported name with ``static``
and ``.*``; C/C++: the include spec with its delimiters; JS/TS: the specifier). The regex side is
repoloom's own masking + statement regexes; the tree-sitter side parses with the official
grammar wheels (tree-sitter 0.25.2) and runs one query. Reported: agreement (multiset
intersection over union of statements), files where the two differ, and MB/s of each side, plus
MB/s of the full ``parse_dependencies`` (extraction and resolution) per language.

Run through ``deps_accuracy.py --speed`` (which fetches the corpus), or alone after it.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from pathlib import Path

from repoloom.codebase.deps import c_family, java, javascript, parse_dependencies, python
from repoloom.codebase.deps._base import mask, starts_token

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deps_common import CACHE, language_of  # noqa: E402  (the languages both benchmarks measure)


def corpus() -> dict[str, list[tuple[Path, list[Path]]]]:
    """language -> [(repo root, files of that language)]."""
    out: dict[str, list[tuple[Path, list[Path]]]] = {}
    groups = {
        "python": (CACHE / "src", (".py",)),
        "c/c++": (CACHE / "src", (".c", ".h", ".cc", ".cpp", ".hpp", ".hh", ".cxx")),
        "java": (CACHE / "java/srcs", (".java",)),
        "js/ts": (CACHE / "npm", (".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts")),
    }
    for lang, (base, exts) in groups.items():
        if not base.exists():
            continue
        for root in sorted(p for p in base.iterdir() if p.is_dir()):
            if (root / "package").is_dir():
                root = root / "package"
            files = sorted(
                p
                for p in root.rglob("*")
                if p.is_file() and p.name.endswith(exts) and "node_modules" not in p.parts
            )
            if files:
                out.setdefault(lang, []).append((root, files))
    return out


# ------------------------------------------------------------------------------ regex side


def rx_python(text: str) -> list[str]:
    masked = mask(text, "python").replace("\\\n", "  ")
    out = []
    for m in python._STMT.finditer(masked):
        if not starts_token(masked, m.start(), "_."):
            continue
        if m.group("mods") is not None:
            for item in m.group("mods").split(","):
                words = item.strip().split()
                if words and python._NAME.match(words[0]):
                    out.append(words[0])
        else:
            base = re.sub(r"\s", "", m.group("base"))
            if base:
                out.append(base)
    return out


def rx_java(text: str) -> list[str]:
    masked = mask(text, "java")
    return [
        ("static " if m.group(1) else "")
        + re.sub(r"\s+", "", m.group(2))
        + (".*" if m.group(3) else "")
        for m in java._IMPORT.finditer(masked)
        if starts_token(masked, m.start())
    ]


def rx_c(text: str) -> list[str]:
    masked = mask(text, "c")
    out = []
    for m in c_family._INCLUDE.finditer(masked):
        q = m.start(1)
        if m.group(1) == '"':
            end = masked.find('"', q + 1)
        else:
            end = masked.find(">", q + 1)
        if end > q and "\n" not in masked[q:end]:
            out.append(text[q : end + 1])
    return out


def rx_js(text: str) -> list[str]:
    masked = mask(text, "js")
    out = []
    for m in javascript._SPEC.finditer(masked):
        if not starts_token(masked, m.start()):
            continue
        q = m.end() - 1
        end = masked.find(masked[q], q + 1)
        if end > q and "\n" not in masked[q:end]:
            out.append(text[q + 1 : end])
    return out


# ------------------------------------------------------------------------ tree-sitter side


class TS:
    def __init__(self, pytools: Path) -> None:
        sys.path.insert(0, str(pytools))
        import tree_sitter as ts
        import tree_sitter_c
        import tree_sitter_cpp
        import tree_sitter_java
        import tree_sitter_javascript
        import tree_sitter_python
        import tree_sitter_typescript

        self.ts = ts
        langs = {
            "python": tree_sitter_python.language(),
            "java": tree_sitter_java.language(),
            "c": tree_sitter_c.language(),
            "cpp": tree_sitter_cpp.language(),
            "javascript": tree_sitter_javascript.language(),
            "typescript": tree_sitter_typescript.language_typescript(),
            "tsx": tree_sitter_typescript.language_tsx(),
        }
        queries = {
            "python": """
                (import_statement name: [(dotted_name) @m (aliased_import name: (dotted_name) @m)])
                (import_from_statement module_name: (_) @m)
                (future_import_statement) @future""",
            "java": "(import_declaration) @m",
            "c": "(preproc_include path: (_) @m)",
            "cpp": "(preproc_include path: (_) @m)",
            "javascript": """
                (import_statement source: (string) @s)
                (export_statement source: (string) @s)
                (call_expression function: [(identifier) @f (import)] arguments:
                   (arguments . (string) @s))""",
        }
        queries["typescript"] = (
            queries["javascript"]
            + """
                (import_require_clause source: (string) @s)"""
        )
        queries["tsx"] = queries["typescript"]
        self.parsers = {k: ts.Parser(ts.Language(v)) for k, v in langs.items()}
        self.queries = {k: ts.Query(ts.Language(langs[k]), q) for k, q in queries.items()}

    def extract(self, lang: str, data: bytes) -> list[str]:
        tree = self.parsers[lang].parse(data)
        caps = self.ts.QueryCursor(self.queries[lang]).captures(tree.root_node)
        if lang == "python":
            mods = [n.text.decode("utf-8", "replace").replace(" ", "") for n in caps.get("m", [])]
            return mods + ["__future__"] * len(caps.get("future", []))
        if lang == "java":
            out = []
            for n in caps.get("m", []):
                t = re.sub(r"\s+", " ", n.text.decode("utf-8", "replace"))
                t = t.removeprefix("import").strip().rstrip(";").strip()
                static = t.startswith("static ")
                name = re.sub(r"\s+", "", t.removeprefix("static "))
                out.append(("static " if static else "") + name)
            return out
        if lang in ("c", "cpp"):
            return [n.text.decode("utf-8", "replace") for n in caps.get("m", [])]
        out = []
        for n in caps.get("s", []):
            parent = n.parent
            if parent is not None and parent.type == "arguments":
                fn = parent.parent.child_by_field_name("function") if parent.parent else None
                if fn is None or fn.text not in (b"require", b"import"):
                    continue
            out.append(n.text.decode("utf-8", "replace")[1:-1])
        return out


def _ts_lang(path: Path, group: str) -> str:
    if group == "python":
        return "python"
    if group == "java":
        return "java"
    if group == "c/c++":
        return "c" if path.suffix in (".c", ".h") else "cpp"
    if path.suffix == ".tsx":
        return "tsx"
    return "typescript" if path.suffix in (".ts", ".mts") else "javascript"


RX = {"python": rx_python, "java": rx_java, "c/c++": rx_c, "js/ts": rx_js}


def speed_table(pytools: Path, report: dict) -> list[str]:
    tsx = TS(pytools)
    rows = [
        "| statements | files | MB | agreement | files differing | regex MB/s | tree-sitter MB/s "
        "| full parse_dependencies MB/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for group, repos in corpus().items():
        n_files = n_bytes = 0
        inter = union = differ = 0
        t_rx = t_ts = t_full = 0.0
        diffs = []
        for root, paths in repos:
            texts = {}
            for p in paths:
                try:
                    texts[p] = p.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue
            for p, text in texts.items():
                data = text.encode("utf-8")
                n_files += 1
                n_bytes += len(data)
                t0 = time.process_time()
                a = RX[group](text)
                t1 = time.process_time()
                b = tsx.extract(_ts_lang(p, group), data)
                t2 = time.process_time()
                t_rx += t1 - t0
                t_ts += t2 - t1
                ca, cb = Counter(a), Counter(b)
                inter += sum((ca & cb).values())
                union += sum((ca | cb).values())
                if ca != cb:
                    differ += 1
                    if len(diffs) < 40:
                        rel = p.relative_to(CACHE).as_posix()
                        diffs.append(
                            [rel, sorted((ca - cb).elements()), sorted((cb - ca).elements())]
                        )
            files = {p.relative_to(root).as_posix(): t for p, t in texts.items()}
            langs = {k: language_of(k) for k in files}
            t0 = time.process_time()
            parse_dependencies(files, langs)
            t_full += time.process_time() - t0
        report.setdefault("speed_diffs", {})[group] = diffs
        mb = n_bytes / 1e6
        rows.append(
            f"| {group} | {n_files} | {mb:.1f} | {100 * inter / max(1, union):.2f}% | {differ} | "
            f"{mb / t_rx:.1f} | {mb / t_ts:.1f} | {mb / t_full:.1f} |"
        )
    return rows


if __name__ == "__main__":
    import json

    rep: dict = {}
    print("\n".join(speed_table(CACHE / "tools/py", rep)))
    (CACHE / "speed.json").write_text(json.dumps(rep, indent=1))
