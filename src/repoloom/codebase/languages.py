"""The language table: one row per language of the DeepSeek-Coder release, and identification.

Every per-language fact the project uses lives in one `Language` row, and every per-language
table elsewhere is derived from `LANGUAGE_TABLE`: the extension, file-name and shebang tables
used to identify a file's language, the dependency parsers' registry (`repoloom.codebase.deps`),
the syntax-screening grammars, comment prefixes and function node types
(`repoloom.corpus.screening`), the cross-file benchmark's grammars
(`repoloom.evaluate.crossfile.analysis`) and the MultiPL-E toolchains
(`repoloom.evaluate.benchmarks.multiple`). Adding a language is one row here (plus, for
dependency parsing, one module under `repoloom.codebase.deps` named by the row's ``deps``).

A file's language comes from, in order: its exact file name (``Makefile``, ``Dockerfile``), its
extension (the longest matching suffix, so ``.d.ts`` before ``.ts``), and its shebang line. A
file that matches none is *unknown*: the pipeline counts and drops it rather than guessing.

Extensions follow The Stack's language-to-extension table (the corpus DeepSeek-Coder's language
list comes from), trimmed of extensions that are far more often something else (for example
``.m`` is Objective-C far more often than MATLAB, ``.v`` as Coq, ``.pl`` as Perl over Prolog).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

# A tree-sitter grammar: (module of its wheel, function of that module returning the language).
Grammar = tuple[str, str]

# Line prefixes that make a line a comment line (the comment-share quality rule).
SLASH = ("//", "/*", "*", "*/")  # C-style: the default of every row
HASH = ("#",)
DASHES = ("--",)
SEMICOLON = (";",)
PERCENT = ("%",)

JAVATUPLES = "/usr/share/java/javatuples.jar"  # Debian libjavatuples-java (MultiPL-E's Java tests)


@dataclass(frozen=True)
class Toolchain:
    """How a one-file program of the language is compiled and run (a MultiPL-E row)."""

    key: str  # MultiPL-E file suffix: humaneval-<key>.jsonl
    name: str
    filename: str  # the program file written in the private directory
    steps: tuple[tuple[str, ...], ...]  # argv lists; the first word is looked up on PATH
    version: tuple[str, ...]  # command printing the toolchain version
    debian: str  # Debian packages that provide the toolchain
    fail_markers: tuple[str, ...] = ()
    extra_time: float = 0.0  # seconds added to --timeout for compilation
    address_space: int | None = 4 << 30  # None for VMs that reserve big heaps (bounded by flags)
    processes: int = 64
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Language:
    """One language of the release and everything the project knows about it."""

    name: str  # the release's language name (PAPER_NOTES section 1)
    extensions: tuple[str, ...]  # lower-case suffixes; the first row naming one wins
    filenames: tuple[str, ...] = ()  # exact file names, lower-cased (``makefile``)
    interpreters: tuple[str, ...] = ()  # programs a ``#!`` line names (``python3`` -> python)
    is_code: bool = False  # judged by the quality heuristics (not data, markup or prose)
    comments: tuple[str, ...] = SLASH  # line prefixes of a comment line
    grammar: Grammar | None = None  # tree-sitter grammar: syntax screening, cross-file analysis
    dialects: tuple[tuple[str, Grammar], ...] = ()  # other grammars by name (``tsx``)
    function_nodes: tuple[str, ...] = ()  # grammar node types that are one function or method
    deps: str | None = None  # dependency-parser module under repoloom.codebase.deps
    # syntax-screened by default: the grammar's verdicts were measured against the language's
    # own compiler on pinned real projects (others: opt-in via screening.syntax_languages)
    screened: bool = False
    toolchain: Toolchain | None = None  # MultiPL-E: compile and run one program


# The 89 languages of the release, in the release's (alphabetical) order.
# fmt: off
LANGUAGE_TABLE: tuple[Language, ...] = (
    Language("ada", (".adb", ".ads", ".ada")),
    Language("agda", (".agda",)),
    Language("alloy", (".als",)),
    Language("antlr", (".g4", ".g")),
    Language("applescript", (".applescript", ".scpt"), interpreters=("osascript",)),
    Language("assembly", (".asm", ".s", ".nasm", ".a51"), is_code=True, comments=SEMICOLON),
    Language("augeas", (".aug",)),
    Language("awk", (".awk", ".gawk", ".mawk", ".nawk"),
        interpreters=("awk", "gawk", "mawk"),
        is_code=True,
        comments=HASH,
    ),
    Language("batchfile", (".bat", ".cmd"), is_code=True, comments=("rem ", "REM ", "::")),
    Language("bluespec", (".bsv",)),
    Language("c", (".c", ".h", ".cats", ".idc"),
        is_code=True,
        grammar=("tree_sitter_c", "language"),
        function_nodes=("function_definition",),
        deps="c_family",
        screened=True,
    ),
    Language("c-sharp", (".cs", ".cake", ".csx"),
        is_code=True,
        grammar=("tree_sitter_c_sharp", "language"),
        function_nodes=("method_declaration", "constructor_declaration",
            "local_function_statement", "lambda_expression"),
        deps="csharp",
        screened=True,
        toolchain=Toolchain(
            "cs", "C#", "main.cs",
            (
                ("mcs", "-d:DEBUG", "-r:System.Numerics.dll", "main.cs", "-out:main.exe"),
                ("env", "MONO_TRACE_LISTENER=Console.Error", "mono", "main.exe"),
            ),
            ("mcs", "--version"), "mono-mcs mono-runtime",
            fail_markers=("System.Diagnostics.DefaultTraceListener.Fail", "Unhandled Exception"),
            extra_time=15.0, address_space=None,
        ),
    ),
    Language("clojure", (".clj", ".cljs", ".cljc", ".cljx", ".edn", ".boot", ".cl2", ".cljscm"),
        is_code=True,
        comments=SEMICOLON,
    ),
    Language("cmake", (".cmake", ".cmake.in"),
        filenames=("cmakelists.txt",),
        is_code=True,
        comments=HASH,
    ),
    Language("coffeescript", (".coffee", "._coffee", ".cjsx", ".cson", ".iced"),
        is_code=True,
        comments=HASH,
    ),
    Language("common-lisp", (".lisp", ".lsp", ".asd", ".ny", ".podsl", ".sexp"),
        interpreters=("sbcl", "clisp"),
        is_code=True,
        comments=SEMICOLON,
    ),
    Language("cpp", (".cpp", ".cc", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".inl", ".ipp",
              ".tcc", ".tpp"),
        is_code=True,
        grammar=("tree_sitter_cpp", "language"),
        function_nodes=("function_definition", "lambda_expression"),
        deps="c_family",
        screened=True,
        toolchain=Toolchain(
            "cpp", "C++", "main.cpp",
            (("g++", "-std=c++17", "-O0", "-o", "main", "main.cpp"), ("./main",)),
            ("g++", "--version"), "g++",
            extra_time=15.0,
        ),
    ),
    Language("css", (".css",), is_code=True),
    Language("cuda", (".cu", ".cuh"), is_code=True, deps="c_family"),
    Language("dart", (".dart",), is_code=True),
    Language("dockerfile", (".dockerfile",),
        filenames=("dockerfile", "containerfile"),
        is_code=True,
        comments=HASH,
    ),
    Language("elixir", (".ex", ".exs"), interpreters=("elixir",), is_code=True, comments=HASH),
    Language("elm", (".elm",), is_code=True, comments=DASHES),
    Language("emacs-lisp", (".el", ".emacs", ".emacs.desktop"),
        filenames=(".emacs",),
        is_code=True,
        comments=SEMICOLON,
    ),
    Language("erlang", (".erl", ".hrl", ".es", ".escript", ".xrl", ".yrl", ".app.src"),
        filenames=("emakefile", "rebar.config"),
        interpreters=("escript",),
        is_code=True,
        comments=PERCENT,
    ),
    Language("f-sharp", (".fs", ".fsi", ".fsx"), is_code=True, comments=("//", "(*")),
    Language("fortran", (".f", ".f90", ".f95", ".f03", ".f08", ".for", ".f77", ".fpp"),
        is_code=True,
        comments=("!", "c ", "C "),
    ),
    Language("glsl", (".glsl", ".vert", ".frag", ".geom", ".comp", ".tesc", ".tese", ".vsh",
              ".fsh", ".shader"),
        is_code=True,
    ),
    Language("go", (".go",),
        is_code=True,
        grammar=("tree_sitter_go", "language"),
        function_nodes=("function_declaration", "method_declaration", "func_literal"),
        deps="go",
        screened=True,
        toolchain=Toolchain(
            "go", "Go", "main_test.go",
            (("go", "test", "main_test.go"),),  # GOCACHE: set per job by the sandbox
            ("go", "version"), "golang-go",
            extra_time=20.0, address_space=None, processes=256,
        ),
    ),
    Language("groovy", (".groovy", ".grt", ".gtpl", ".gvy", ".gradle"),
        filenames=("jenkinsfile", "build.gradle", "settings.gradle"),
        interpreters=("groovy",),
        is_code=True,
    ),
    Language("haskell", (".hs", ".hsc"),
        interpreters=("runhaskell", "stack"),
        is_code=True,
        comments=DASHES,
    ),
    Language("html", (".html", ".htm", ".xhtml", ".html.hl", ".xht")),
    Language("idris", (".idr", ".lidr")),
    Language("isabelle", (".thy",)),
    Language("java", (".java",),
        is_code=True,
        grammar=("tree_sitter_java", "language"),
        function_nodes=("method_declaration", "constructor_declaration", "lambda_expression"),
        deps="java",
        screened=True,
        toolchain=Toolchain(
            "java", "Java", "Problem.java",
            (
                ("javac", "-J-Xmx512m", "-cp", JAVATUPLES, "Problem.java"),
                ("java", "-ea", "-Xmx1g", "-XX:+UseSerialGC", "-cp", f"{JAVATUPLES}:.", "Problem"),
            ),
            ("javac", "-version"), "default-jdk-headless libjavatuples-java",
            extra_time=15.0, address_space=None, processes=256,
        ),
    ),
    Language("java-server-pages", (".jsp",)),
    Language("javascript", (".js", ".mjs", ".cjs", ".jsx", "._js", ".bones", ".es6", ".jake",
              ".jsb", ".jscad", ".jsfl", ".jsm", ".jss", ".njs", ".pac", ".sjs", ".ssjs", ".xsjs",
              ".xsjslib"),
        interpreters=("node", "nodejs"),
        is_code=True,
        grammar=("tree_sitter_javascript", "language"),
        function_nodes=("function_declaration", "function_expression", "arrow_function",
            "generator_function_declaration", "method_definition"),
        deps="javascript",
        screened=True,
        toolchain=Toolchain(
            "js", "JavaScript", "main.js", (("node", "main.js"),), ("node", "--version"), "nodejs",
            address_space=None,
        ),
    ),
    Language("json", (".json", ".geojson", ".jsonl", ".topojson", ".webmanifest", ".har", ".json5"),
    ),
    Language("julia", (".jl",), interpreters=("julia",), is_code=True, comments=HASH),
    Language("jupyter-notebook", (".ipynb",)),
    Language("kotlin", (".kt", ".kts", ".ktm"),
        interpreters=("kotlin",),
        is_code=True,
        grammar=("tree_sitter_kotlin", "language"),
        function_nodes=("function_declaration", "lambda_literal"),
        deps="kotlin",
    ),
    Language("lean", (".lean", ".hlean")),
    Language("literate-agda", (".lagda",)),
    Language("literate-coffeescript", (".litcoffee",)),
    Language("literate-haskell", (".lhs",)),
    Language("lua", (".lua", ".nse", ".rbxs", ".wlua"),
        interpreters=("lua", "luajit"),
        is_code=True,
        comments=DASHES,
    ),
    Language("makefile", (".mak", ".mk", ".mkfile", ".make"),
        filenames=("makefile", "gnumakefile", "kbuild"),
        interpreters=("make",),
        is_code=True,
        comments=HASH,
    ),
    Language("maple", (".mpl", ".mw")),
    Language("markdown", (".md", ".markdown", ".mkd", ".mkdn", ".mkdown", ".ron", ".mdown")),
    Language("mathematica", (".nb", ".wl", ".wlt", ".mt", ".nbp", ".cdf")),
    Language("matlab", (".matlab",), is_code=True, comments=PERCENT),
    Language("ocaml", (".ml", ".mli", ".eliom", ".eliomi", ".ml4", ".mll", ".mly"),
        interpreters=("ocaml",),
        is_code=True,
        comments=("(*", "*"),
    ),
    Language("pascal", (".pas", ".dfm", ".dpr", ".lpr", ".pp"),
        is_code=True,
        comments=("//", "{", "(*"),
    ),
    Language("perl", (".pl", ".pm", ".al", ".perl", ".ph", ".plx", ".psgi", ".t"),
        filenames=("cpanfile", "makefile.pl"),
        interpreters=("perl", "perl5"),
        is_code=True,
        comments=HASH,
    ),
    Language("php", (".php", ".php3", ".php4", ".php5", ".phps", ".phpt", ".phtml", ".inc", ".ctp"),
        interpreters=("php",),
        is_code=True,
        comments=("//", "#", "/*", "*", "*/"),
        grammar=("tree_sitter_php", "language_php"),
        function_nodes=("function_definition", "arrow_function", "method_declaration"),
        deps="php",
        screened=True,
        toolchain=Toolchain(
            "php", "PHP", "main.php", (("php", "main.php"),), ("php", "--version"), "php-cli",
            fail_markers=("PHP Fatal error", "PHP Parse error"),
        ),
    ),
    Language("powershell", (".ps1", ".psd1", ".psm1"),
        interpreters=("pwsh",),
        is_code=True,
        comments=HASH,
    ),
    Language("prolog", (".pro", ".prolog", ".yap"), is_code=True, comments=PERCENT),
    Language("protocol-buffer", (".proto",)),
    Language("python", (".py", ".pyi", ".pyw", ".pyx", ".pxd", ".pxi", ".gyp", ".gypi", ".lmi",
              ".pyde", ".pyp", ".pyt", ".rpy", ".tac", ".wsgi", ".xpy"),
        filenames=("sconstruct", "sconscript", "snakefile", "buck", "wscript"),
        interpreters=("python", "python2", "python3", "pypy", "pypy3"),
        is_code=True,
        comments=HASH,
        grammar=("tree_sitter_python", "language"),
        function_nodes=("function_definition",),
        deps="python",
        screened=True,
    ),
    Language("r", (".r", ".rd", ".rsx"), interpreters=("Rscript",), is_code=True, comments=HASH),
    Language("racket", (".rkt", ".rktd", ".rktl", ".scrbl"),
        interpreters=("racket",),
        is_code=True,
        comments=SEMICOLON,
    ),
    Language("restructuredtext", (".rst", ".rest", ".rest.txt", ".rst.txt")),
    Language("rmarkdown", (".rmd",)),
    Language("ruby", (".rb", ".builder", ".gemspec", ".god", ".irbrc", ".jbuilder", ".mspec",
              ".podspec", ".rabl", ".rake", ".rbuild", ".rbw", ".rbx", ".ru", ".ruby", ".thor",
              ".watchr"),
        filenames=("rakefile", "gemfile", "guardfile", "podfile", "vagrantfile", "berksfile",
            "capfile", "thorfile"),
        interpreters=("ruby",),
        is_code=True,
        comments=HASH,
        grammar=("tree_sitter_ruby", "language"),
        function_nodes=("method", "singleton_method"),
        deps="ruby",
    ),
    Language("rust", (".rs", ".rs.in"),
        is_code=True,
        grammar=("tree_sitter_rust", "language"),
        function_nodes=("function_item",),
        deps="rust",
        screened=True,
        toolchain=Toolchain(
            "rs", "Rust", "main.rs",
            (("rustc", "--edition", "2021", "-o", "main", "main.rs"), ("./main",)),
            ("rustc", "--version"), "rustc",
            extra_time=20.0,
        ),
    ),
    Language("sas", (".sas",)),
    Language("scala", (".scala", ".sbt", ".sc"),
        interpreters=("scala",),
        is_code=True,
        grammar=("tree_sitter_scala", "language"),
        function_nodes=("function_definition",),
        deps="scala",
    ),
    Language("scheme", (".scm", ".sld", ".sls", ".sps", ".ss"),
        interpreters=("guile",),
        is_code=True,
        comments=SEMICOLON,
    ),
    Language("shell", (".sh", ".bash", ".bats", ".command", ".ksh", ".sh.in", ".tmux", ".tool",
              ".zsh"),
        filenames=(".bashrc", ".bash_profile", ".zshrc", ".profile", "pkgbuild", "configure"),
        interpreters=("sh", "bash", "zsh", "ksh", "dash", "ash"),
        is_code=True,
        comments=HASH,
        toolchain=Toolchain(
            "sh", "Bash", "main.sh", (("bash", "main.sh"),), ("bash", "--version"), "bash"
        ),
    ),
    Language("smalltalk", (".st", ".cs.st")),
    Language("solidity", (".sol",), is_code=True),
    Language("sparql", (".sparql", ".rq")),
    Language("sql", (".sql", ".cql", ".ddl", ".prc", ".tab", ".udf", ".viw"),
        is_code=True,
        comments=DASHES,
    ),
    Language("stan", (".stan",)),
    Language("standard-ml", (".sml", ".fun", ".sig")),
    Language("stata", (".do", ".ado", ".doh", ".ihlp", ".mata", ".matah", ".sthlp")),
    Language("systemverilog", (".sv", ".svh", ".vh"), is_code=True),
    Language("tcl", (".tcl", ".adp", ".tm"),
        interpreters=("tclsh", "wish"),
        is_code=True,
        comments=HASH,
    ),
    Language("tcsh", (".tcsh", ".csh"), interpreters=("csh", "tcsh")),
    Language("tex", (".tex", ".aux", ".bbx", ".bib", ".cbx", ".dtx", ".ins", ".lbx", ".ltx",
              ".mkii", ".mkiv", ".mkvi", ".sty", ".toc", ".cls"),
    ),
    Language("thrift", (".thrift",)),
    Language("typescript", (".ts", ".tsx", ".mts", ".cts"),
        interpreters=("deno", "ts-node"),
        is_code=True,
        grammar=("tree_sitter_typescript", "language_typescript"),
        dialects=(("tsx", ("tree_sitter_typescript", "language_tsx")),),
        function_nodes=("function_declaration", "function_expression", "arrow_function",
            "generator_function_declaration", "method_definition"),
        deps="javascript",
        screened=True,
        toolchain=Toolchain(
            "ts", "TypeScript", "main.ts",
            (
                ("tsc", "--target", "es2020", "--lib", "es2020,dom", "--skipLibCheck", "main.ts"),
                ("node", "main.js"),
            ),
            ("tsc", "--version"), "node-typescript nodejs",
            extra_time=15.0, address_space=None,
        ),
    ),
    Language("verilog", (".v", ".veo"), is_code=True),
    Language("vhdl", (".vhdl", ".vhd", ".vhf", ".vhi", ".vho", ".vhs", ".vht", ".vhw"),
        is_code=True,
        comments=DASHES,
    ),
    Language("visual-basic", (".vb", ".bas", ".frm", ".frx", ".vba", ".vbhtml", ".vbs"),
        is_code=True,
        comments=("'",),
    ),
    Language("xslt", (".xslt", ".xsl")),
    Language("yacc", (".y", ".yacc", ".yy")),
    Language("yaml", (".yml", ".yaml", ".reek", ".rviz", ".syntax", ".yaml-tmlanguage",
              ".yml.mysql"),
    ),
    Language("zig", (".zig",), is_code=True),
)
# fmt: on

BY_NAME: dict[str, Language] = {row.name: row for row in LANGUAGE_TABLE}
assert len(BY_NAME) == len(LANGUAGE_TABLE), "one row per language"

LANGUAGES: tuple[str, ...] = tuple(BY_NAME)
SCREENED_BY_DEFAULT: tuple[str, ...] = tuple(row.name for row in LANGUAGE_TABLE if row.screened)
EXTENSIONS: dict[str, tuple[str, ...]] = {row.name: row.extensions for row in LANGUAGE_TABLE}
# Exact file names (case-sensitive as on disk, compared lower-cased).
FILENAMES: dict[str, str] = {f: row.name for row in LANGUAGE_TABLE for f in row.filenames}
# Interpreters named by a shebang line.
SHEBANGS: dict[str, str] = {p: row.name for row in LANGUAGE_TABLE for p in row.interpreters}
# Every grammar by name: a language's own, and its dialects' (``tsx``).
GRAMMARS: dict[str, Grammar] = {
    name: grammar
    for row in LANGUAGE_TABLE
    if row.grammar
    for name, grammar in ((row.name, row.grammar), *row.dialects)
}
GRAMMAR_LANGUAGES: frozenset[str] = frozenset(row.name for row in LANGUAGE_TABLE if row.grammar)
CODE_LANGUAGES: frozenset[str] = frozenset(row.name for row in LANGUAGE_TABLE if row.is_code)
FUNCTION_NODE_TYPES: frozenset[str] = frozenset(
    kind for row in LANGUAGE_TABLE for kind in row.function_nodes
)
COMMENT_PREFIXES: dict[str, tuple[str, ...]] = {row.name: row.comments for row in LANGUAGE_TABLE}
DEPENDENCY_MODULES: dict[str, str] = {row.name: row.deps for row in LANGUAGE_TABLE if row.deps}
TOOLCHAINS: tuple[Toolchain, ...] = tuple(row.toolchain for row in LANGUAGE_TABLE if row.toolchain)


def grammars_for(names: Iterable[str]) -> dict[str, Grammar]:
    """The grammars of the named languages, each followed by its dialects' (``tsx``)."""
    return {
        key: grammar
        for name in names
        for key, grammar in ((name, BY_NAME[name].grammar), *BY_NAME[name].dialects)
        if grammar
    }


_EXTENSION_TO_LANGUAGE: dict[str, str] = {}
for _language, _extensions in EXTENSIONS.items():
    for _ext in _extensions:
        # First writer wins; the table above has no duplicates except deliberate ones.
        _EXTENSION_TO_LANGUAGE.setdefault(_ext, _language)
_MAX_SUFFIX_PARTS = max(ext.count(".") for ext in _EXTENSION_TO_LANGUAGE)
_SHEBANG = re.compile(rb"^#!\s*(\S+)(?:\s+(\S+))?")


def language_from_name(path: str) -> str | None:
    """The language a path's file name or extension says, or None."""
    name = PurePosixPath(path).name.lower()
    if name in FILENAMES:
        return FILENAMES[name]
    if name.startswith("dockerfile.") or name.endswith(".dockerfile"):
        return "dockerfile"
    if name.startswith("makefile."):
        return "makefile"
    parts = name.split(".")
    # Longest suffix first: ".d.ts" is typescript via ".ts", ".cmake.in" before ".in".
    for n in range(min(_MAX_SUFFIX_PARTS, len(parts) - 1), 0, -1):
        suffix = "." + ".".join(parts[-n:])
        if suffix in _EXTENSION_TO_LANGUAGE:
            return _EXTENSION_TO_LANGUAGE[suffix]
    return None


def language_from_shebang(head: bytes) -> str | None:
    """The language a ``#!`` first line names (``#!/usr/bin/env python3``), or None."""
    match = _SHEBANG.match(head)
    if not match:
        return None
    program = match.group(1).rsplit(b"/", 1)[-1]
    if program == b"env" and match.group(2):
        program = match.group(2)
        if program.startswith(b"-") or b"=" in program:
            return None
    name = program.decode("ascii", "replace")
    name = re.sub(r"[\d.]+$", "", name) or name  # python3.11 -> python
    return SHEBANGS.get(name) or SHEBANGS.get(program.decode("ascii", "replace"))


def identify_language(path: str, head: bytes = b"") -> str | None:
    """Language of a file from its path, else from the shebang in ``head`` (its first bytes)."""
    return language_from_name(path) or language_from_shebang(head[:256])
