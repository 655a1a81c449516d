"""Each language's own front end, asked in a syntax-only mode.

The syntax step's second opinion (``screening.syntax_confirm``): tree-sitter's error recovery
sometimes leaves a valid file full of ERROR nodes where its grammar lacks one construct (a
TypeScript call signature after a member without a semicolon, C++ templates behind macros), so a
file tree-sitter flags is dropped only when the language's own parser rejects it too. Also the
referee of benchmarks/syntax_precision.py.

    python      compile()                       (in process)
    c, cpp      gcc / g++ -fsyntax-only         with the repository's C/C++ files written to a
                                                temporary tree and its include directories;
                                                a `.h` passes when C or C++ accepts it; a missing
                                                header, or a header rejected on its own (out of
                                                its includer's context), is no verdict
    java        javac's parser only             (JavacTask.parse(); ParseOnly.java, compiled once
                                                into the cache directory)
    javascript  V8 (vm.Script / vm.SourceTextModule), then the TypeScript parser for JSX
    typescript  TypeScript compiler API parse diagnostics (a `typescript` module node finds,
                                                or Debian's /usr/share/nodejs/typescript)
    go          gofmt -e
    rust        rustfmt (rustc's parser; stdin: out-of-line modules are not followed)
    php         php -l
    ruby        ruby -c                         (no kotlinc/scalac here: Kotlin and Scala files
                                                flagged by tree-sitter get no verdict, kept)
    c-sharp     mcs --parse                     (Mono: C# 7 syntax; newer syntax is rejected,
                                                so a C# verdict of "reject" only confirms)

A verdict is ("accept" | "reject" | "unknown", message); "unknown" when the tool is missing,
timed out, or could not judge (a missing header).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from repoloom.corpus.steps import FileDoc

Verdict = tuple[str, str]
HEADER_SUFFIXES = (".h", ".hh", ".hpp", ".hxx", ".h++", ".inl", ".ipp", ".tcc")
# A header compiled on its own lacks what its includer defines first (Eigen's internal headers
# expect `namespace Eigen` macros and the standard headers Eigen/Core pulls in): gcc rejecting a
# lone header is no verdict; accepting it is one.
_MODULE_DECLARATION = re.compile(r"^\s*(?:export\s+)?module\b", re.MULTILINE)
# gcc's first error when a file is compiled out of its build: a name, macro or type that another
# file or the build system declares. Such an error is no verdict; a syntax error on punctuation
# (`expected ';' before '}' token`) is a reject.
_CONTEXT_ERROR = re.compile(
    r"does not name a (?:template )?type|was not declared|has not been declared|"
    r"is not a (?:class template|template function|member of|namespace)|unknown type name|"
    r"expected (?:template-name|nested-name-specifier|class-name|type-specifier)|"
    r"expected [^\n]*before ['‘][A-Za-z_]\w*['’]|missing binary operator before token|"
    r"with no type|declared void|incomplete type|non-['‘]constexpr['’]|#error"
)
OUT_OF_BUILD = "no verdict (a name declared outside this file): "
HEADER_OUT_OF_CONTEXT = "no verdict (a header rejected out of its includer's context): "
TYPESCRIPT_MODULES = ("/usr/share/nodejs/typescript", "/usr/lib/node_modules/typescript")
# Which executables each language needs.
TOOLS: dict[str, tuple[str, ...]] = {
    "python": (),
    "c": ("gcc", "g++"),
    "cpp": ("g++",),
    "java": ("javac", "java"),
    "javascript": ("node",),
    "typescript": ("node",),
    "go": ("gofmt",),
    "rust": ("rustfmt",),
    "php": ("php",),
    "c-sharp": ("mcs",),
    "ruby": ("ruby",),
}


def _first_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower():
            return line[:200]
    return lines[0][:200] if lines else ""


class FrontEnds:
    """Syntax-only checks with the installed toolchains. `prefix` is put before every command
    (the benchmark runs them under ``nice -n 10``)."""

    def __init__(
        self,
        cache_dir: Path | None = None,
        timeout: float = 60.0,
        prefix: Sequence[str] = (),
        typescript: str | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir or Path.home() / ".cache" / "repoloom" / "frontends")
        self.timeout = timeout
        self.prefix = list(prefix)
        self._typescript = typescript

    # -- what is installed ------------------------------------------------------------------------

    def available(self, language: str) -> bool:
        tools = TOOLS.get(language)
        if tools is None or not all(shutil.which(t) for t in tools):
            return False
        if language == "typescript":
            return self.typescript_module() is not None
        return True

    def typescript_module(self) -> str | None:
        """A `typescript` module for node: the one given, node's own resolution, or Debian's."""
        if self._typescript is None:
            found = ""
            if shutil.which("node"):
                proc = self._run(
                    ["node", "-e", "process.stdout.write(require.resolve('typescript'))"]
                )
                if proc is not None and proc.returncode == 0 and proc.stdout:
                    found = proc.stdout.decode()
            found = found or next((m for m in TYPESCRIPT_MODULES if Path(m).is_dir()), "")
            self._typescript = found
        return self._typescript or None

    # -- running ----------------------------------------------------------------------------------

    def _run(
        self,
        cmd: list[str],
        stdin: bytes | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess | None:
        try:
            return subprocess.run(
                [*self.prefix, *cmd],
                input=stdin,
                capture_output=True,
                timeout=self.timeout,
                cwd=cwd,
                env=env,
            )
        except (subprocess.TimeoutExpired, OSError):
            return None

    def _stdin_tool(self, cmd: list[str], text: str, name: str) -> Verdict:
        proc = self._run(cmd, stdin=text.encode("utf-8", "surrogatepass"))
        if proc is None:
            return ("unknown", f"{cmd[0]}: timeout or not runnable")
        if proc.returncode == 0:
            return ("accept", name)
        out = proc.stderr.decode("utf-8", "replace") + proc.stdout.decode("utf-8", "replace")
        return ("reject", f"{name}: {_first_error(out)}")

    def _java_helper(self) -> Path | None:
        out = self.cache_dir / "java"
        if not (out / "ParseOnly.class").exists():  # compiled once, kept in the cache directory
            out.mkdir(parents=True, exist_ok=True)
            # compiled aside and renamed: workers of one build may race to build it
            with tempfile.TemporaryDirectory(dir=out) as tmp:
                with resources.as_file(resources.files(__package__) / "ParseOnly.java") as src:
                    proc = self._run(["javac", "-d", tmp, str(src)])
                if proc is None or proc.returncode:
                    return None
                os.replace(Path(tmp) / "ParseOnly.class", out / "ParseOnly.class")
        return out

    def _node(self, docs: list[FileDoc]) -> list[Verdict]:
        module = self.typescript_module()
        if module is None:
            return [("unknown", "no typescript module for node")] * len(docs)
        files = [["ts" if d.language == "typescript" else "js", d.path, d.text] for d in docs]
        request = json.dumps({"typescript": module, "files": files}).encode(
            "utf-8", "surrogatepass"
        )
        with resources.as_file(resources.files(__package__) / "syntax_check.js") as helper:
            proc = self._run(
                ["node", "--experimental-vm-modules", "--no-warnings", str(helper)], stdin=request
            )
        if proc is None or proc.returncode:
            return [("unknown", "node helper failed")] * len(docs)
        return [tuple(row) for row in json.loads(proc.stdout)]

    def _java(self, paths: list[Path]) -> list[Verdict]:
        helper = self._java_helper()
        if helper is None:
            return [("unknown", "javac helper not built")] * len(paths)
        proc = self._run(
            ["java", "-cp", str(helper), "ParseOnly"], stdin="\n".join(map(str, paths)).encode()
        )
        if proc is None or proc.returncode:
            return [("unknown", "java helper failed")] * len(paths)
        rows = [r.split("\t", 1) for r in proc.stdout.decode("utf-8", "replace").splitlines()]
        if len(rows) != len(paths):
            return [("unknown", "java helper output")] * len(paths)
        return [(r[0], r[1] if len(r) > 1 else "") for r in rows]

    def _c_family(self, path: Path, root: Path, language: str) -> Verdict:
        includes = {root, path.parent}
        includes.update(p for p in root.rglob("include") if p.is_dir())
        includes.update(p for p in (root / "src", root / "lib") if p.is_dir())
        flags = [f"-I{p}" for p in sorted(includes)]
        suffix = path.suffix.lower()
        if suffix == ".c":
            modes = [("gcc", "-std=gnu17", "c")]
        elif language == "c" or suffix == ".h":  # a `.h` may be C or C++: either may accept it
            modes = [("gcc", "-std=gnu17", "c-header"), ("g++", "-std=gnu++20", "c++-header")]
        else:
            kind = "c++-header" if suffix in HEADER_SUFFIXES else "c++"
            modes = [("g++", "-std=gnu++20", kind)]
        if modes[-1][0] == "g++" and _MODULE_DECLARATION.search(path.read_text("utf-8", "replace")):
            modes.append(("g++", "-std=gnu++20 -fmodules-ts", modes[-1][2]))  # a C++20 module unit
        messages, missing_header = [], False
        for compiler, std, kind in modes:
            cmd = [
                compiler,
                *std.split(),
                "-fsyntax-only",
                "-w",
                "-fmax-errors=3",
                "-x",
                kind,
                *flags,
            ]
            proc = self._run([*cmd, str(path)], cwd=path.parent)
            if proc is None:
                messages.append(f"{compiler}: timeout")
                missing_header = True  # no verdict
                continue
            if proc.returncode == 0:
                return ("accept", f"{compiler} {std}")
            err = proc.stderr.decode("utf-8", "replace")
            if "No such file or directory" in err or "file not found" in err:
                missing_header = True
            messages.append(f"{compiler}: {_first_error(err)}")
        if missing_header:
            return ("unknown", "no verdict: " + " | ".join(messages))
        return c_verdict(path.name, " | ".join(messages))

    # -- the entry point --------------------------------------------------------------------------

    def check(self, repository: Sequence[FileDoc], chosen: Sequence[FileDoc]) -> dict[str, Verdict]:
        """Verdicts (path -> verdict) for `chosen`, files of one repository whose other files
        (`repository`) give C and C++ their headers."""
        verdicts: dict[str, Verdict] = {}
        todo = []
        for doc in chosen:
            if not self.available(doc.language or ""):
                verdicts[doc.path] = ("unknown", f"no front end for {doc.language} here")
            elif doc.language == "python":
                verdicts[doc.path] = _python(doc)
            else:
                todo.append(doc)
        if not todo:
            return verdicts
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="syntax-", dir=self.cache_dir) as tmp:
            root = Path(tmp)
            paths: dict[str, Path] = {}
            if any(d.language in ("c", "cpp") for d in todo):  # the project's headers, for -I
                for doc in repository:
                    if doc.language in ("c", "cpp"):
                        paths[doc.path] = _write(root, doc)
            for doc in todo:
                if doc.path not in paths:
                    paths[doc.path] = _write(root, doc)
            node_docs = [d for d in todo if d.language in ("javascript", "typescript")]
            if node_docs:
                verdicts.update(
                    zip([d.path for d in node_docs], self._node(node_docs), strict=True)
                )
            java_docs = [d for d in todo if d.language == "java"]
            if java_docs:
                rows = self._java([paths[d.path] for d in java_docs])
                verdicts.update(zip([d.path for d in java_docs], rows, strict=True))
            for doc in todo:
                if doc.path in verdicts:
                    continue
                if doc.language in ("c", "cpp"):
                    verdicts[doc.path] = self._c_family(paths[doc.path], root, doc.language)
                elif doc.language == "go":
                    verdicts[doc.path] = self._stdin_tool(["gofmt", "-e"], doc.text, "gofmt -e")
                elif doc.language == "rust":
                    cmd = ["rustfmt", "--edition", "2021", "--emit", "stdout"]
                    verdicts[doc.path] = self._stdin_tool(cmd, doc.text, "rustfmt")
                elif doc.language == "php":
                    verdicts[doc.path] = self._stdin_tool(["php", "-n", "-l"], doc.text, "php -l")
                elif doc.language == "ruby":
                    cmd = ["ruby", "--disable=gems", "-c"]
                    verdicts[doc.path] = self._stdin_tool(cmd, doc.text, "ruby -c")
                elif doc.language == "c-sharp":
                    cmd = ["mcs", "--parse", "-langversion:experimental", str(paths[doc.path])]
                    verdicts[doc.path] = self._stdin_tool(cmd, "", "mcs --parse")
        return verdicts


def c_verdict(name: str, message: str) -> Verdict:
    """A gcc/g++ rejection as a verdict: no verdict for a lone header or an error about a name
    declared elsewhere (see _CONTEXT_ERROR), else a reject."""
    if name.lower().endswith(HEADER_SUFFIXES):
        return ("unknown", HEADER_OUT_OF_CONTEXT + message)
    if _CONTEXT_ERROR.search(message):
        return ("unknown", OUT_OF_BUILD + message)
    return ("reject", message)


def _python(doc: FileDoc) -> Verdict:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(doc.text, doc.path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return ("reject", f"compile: {exc}")
    return ("accept", "compile")


def _write(root: Path, doc: FileDoc) -> Path:
    """The file under `root` at its repository path (a path escaping `root` is flattened)."""
    relative = Path(doc.path.lstrip("/"))
    if ".." in relative.parts:
        relative = Path(doc.path.replace("/", "_"))
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(doc.text.encode("utf-8", "surrogatepass"))
    return path
