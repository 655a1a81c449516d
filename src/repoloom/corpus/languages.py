"""Language identification for the 89 languages of the DeepSeek-Coder release.

A file's language comes from, in order: its exact file name (``Makefile``, ``Dockerfile``), its
extension (the longest matching suffix, so ``.d.ts`` before ``.ts``), and its shebang line. A
file that matches none is *unknown*: the pipeline counts and drops it rather than guessing.

Extensions follow The Stack's language-to-extension table (the corpus DeepSeek-Coder's language
list comes from), trimmed of extensions that are far more often something else (for example
``.m`` is Objective-C far more often than MATLAB, ``.v`` as Coq, ``.pl`` as Perl over Prolog).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

# The 89 language names of the release, verbatim (PAPER_NOTES section 1).
LANGUAGES: tuple[str, ...] = (
    "ada", "agda", "alloy", "antlr", "applescript", "assembly", "augeas", "awk", "batchfile",
    "bluespec", "c", "c-sharp", "clojure", "cmake", "coffeescript", "common-lisp", "cpp", "css",
    "cuda", "dart", "dockerfile", "elixir", "elm", "emacs-lisp", "erlang", "f-sharp", "fortran",
    "glsl", "go", "groovy", "haskell", "html", "idris", "isabelle", "java", "java-server-pages",
    "javascript", "json", "julia", "jupyter-notebook", "kotlin", "lean", "literate-agda",
    "literate-coffeescript", "literate-haskell", "lua", "makefile", "maple", "markdown",
    "mathematica", "matlab", "ocaml", "pascal", "perl", "php", "powershell", "prolog",
    "protocol-buffer", "python", "r", "racket", "restructuredtext", "rmarkdown", "ruby", "rust",
    "sas", "scala", "scheme", "shell", "smalltalk", "solidity", "sparql", "sql", "stan",
    "standard-ml", "stata", "systemverilog", "tcl", "tcsh", "tex", "thrift", "typescript",
    "verilog", "vhdl", "visual-basic", "xslt", "yacc", "yaml", "zig",
)  # fmt: skip

EXTENSIONS: dict[str, tuple[str, ...]] = {
    "ada": (".adb", ".ads", ".ada"),
    "agda": (".agda",),
    "alloy": (".als",),
    "antlr": (".g4", ".g"),
    "applescript": (".applescript", ".scpt"),
    "assembly": (".asm", ".s", ".nasm", ".a51"),
    "augeas": (".aug",),
    "awk": (".awk", ".gawk", ".mawk", ".nawk"),
    "batchfile": (".bat", ".cmd"),
    "bluespec": (".bsv",),
    "c": (".c", ".h", ".cats", ".idc"),
    "c-sharp": (".cs", ".cake", ".csx"),
    "clojure": (".clj", ".cljs", ".cljc", ".cljx", ".edn", ".boot", ".cl2", ".cljscm"),
    "cmake": (".cmake", ".cmake.in"),
    "coffeescript": (".coffee", "._coffee", ".cjsx", ".cson", ".iced"),
    "common-lisp": (".lisp", ".lsp", ".asd", ".ny", ".podsl", ".sexp"),
    "cpp": (".cpp", ".cc", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".inl", ".ipp", ".tcc", ".tpp"),
    "css": (".css",),
    "cuda": (".cu", ".cuh"),
    "dart": (".dart",),
    "dockerfile": (".dockerfile",),
    "elixir": (".ex", ".exs"),
    "elm": (".elm",),
    "emacs-lisp": (".el", ".emacs", ".emacs.desktop"),
    "erlang": (".erl", ".hrl", ".es", ".escript", ".xrl", ".yrl", ".app.src"),
    "f-sharp": (".fs", ".fsi", ".fsx"),
    "fortran": (".f", ".f90", ".f95", ".f03", ".f08", ".for", ".f77", ".fpp"),
    "glsl": (".glsl", ".vert", ".frag", ".geom", ".comp", ".tesc", ".tese", ".vsh", ".fsh", ".shader"),
    "go": (".go",),
    "groovy": (".groovy", ".grt", ".gtpl", ".gvy", ".gradle"),
    "haskell": (".hs", ".hsc"),
    "html": (".html", ".htm", ".xhtml", ".html.hl", ".xht"),
    "idris": (".idr", ".lidr"),
    "isabelle": (".thy",),
    "java": (".java",),
    "java-server-pages": (".jsp",),
    "javascript": (".js", ".mjs", ".cjs", ".jsx", "._js", ".bones", ".es6", ".jake", ".jsb", ".jscad", ".jsfl", ".jsm", ".jss", ".njs", ".pac", ".sjs", ".ssjs", ".xsjs", ".xsjslib"),
    "json": (".json", ".geojson", ".jsonl", ".topojson", ".webmanifest", ".har", ".json5"),
    "julia": (".jl",),
    "jupyter-notebook": (".ipynb",),
    "kotlin": (".kt", ".kts", ".ktm"),
    "lean": (".lean", ".hlean"),
    "literate-agda": (".lagda",),
    "literate-coffeescript": (".litcoffee",),
    "literate-haskell": (".lhs",),
    "lua": (".lua", ".nse", ".rbxs", ".wlua"),
    "makefile": (".mak", ".mk", ".mkfile", ".make"),
    "maple": (".mpl", ".mw"),
    "markdown": (".md", ".markdown", ".mkd", ".mkdn", ".mkdown", ".ron", ".mdown"),
    "mathematica": (".nb", ".wl", ".wlt", ".mt", ".nbp", ".cdf"),
    "matlab": (".matlab",),
    "ocaml": (".ml", ".mli", ".eliom", ".eliomi", ".ml4", ".mll", ".mly"),
    "pascal": (".pas", ".dfm", ".dpr", ".lpr", ".pp"),
    "perl": (".pl", ".pm", ".al", ".perl", ".ph", ".plx", ".psgi", ".t"),
    "php": (".php", ".php3", ".php4", ".php5", ".phps", ".phpt", ".phtml", ".inc", ".ctp"),
    "powershell": (".ps1", ".psd1", ".psm1"),
    "prolog": (".pro", ".prolog", ".yap"),
    "protocol-buffer": (".proto",),
    "python": (".py", ".pyi", ".pyw", ".pyx", ".pxd", ".pxi", ".gyp", ".gypi", ".lmi", ".pyde", ".pyp", ".pyt", ".rpy", ".tac", ".wsgi", ".xpy"),
    "r": (".r", ".rd", ".rsx"),
    "racket": (".rkt", ".rktd", ".rktl", ".scrbl"),
    "restructuredtext": (".rst", ".rest", ".rest.txt", ".rst.txt"),
    "rmarkdown": (".rmd",),
    "ruby": (".rb", ".builder", ".gemspec", ".god", ".irbrc", ".jbuilder", ".mspec", ".podspec", ".rabl", ".rake", ".rbuild", ".rbw", ".rbx", ".ru", ".ruby", ".thor", ".watchr"),
    "rust": (".rs", ".rs.in"),
    "sas": (".sas",),
    "scala": (".scala", ".sbt", ".sc"),
    "scheme": (".scm", ".sld", ".sls", ".sps", ".ss"),
    "shell": (".sh", ".bash", ".bats", ".command", ".ksh", ".sh.in", ".tmux", ".tool", ".zsh"),
    "smalltalk": (".st", ".cs.st"),
    "solidity": (".sol",),
    "sparql": (".sparql", ".rq"),
    "sql": (".sql", ".cql", ".ddl", ".prc", ".tab", ".udf", ".viw"),
    "stan": (".stan",),
    "standard-ml": (".sml", ".fun", ".sig"),
    "stata": (".do", ".ado", ".doh", ".ihlp", ".mata", ".matah", ".sthlp"),
    "systemverilog": (".sv", ".svh", ".vh"),
    "tcl": (".tcl", ".adp", ".tm"),
    "tcsh": (".tcsh", ".csh"),
    "tex": (".tex", ".aux", ".bbx", ".bib", ".cbx", ".dtx", ".ins", ".lbx", ".ltx", ".mkii", ".mkiv", ".mkvi", ".sty", ".toc", ".cls"),
    "thrift": (".thrift",),
    "typescript": (".ts", ".tsx", ".mts", ".cts"),
    "verilog": (".v", ".veo"),
    "vhdl": (".vhdl", ".vhd", ".vhf", ".vhi", ".vho", ".vhs", ".vht", ".vhw"),
    "visual-basic": (".vb", ".bas", ".frm", ".frx", ".vba", ".vbhtml", ".vbs"),
    "xslt": (".xslt", ".xsl"),
    "yacc": (".y", ".yacc", ".yy"),
    "yaml": (".yml", ".yaml", ".reek", ".rviz", ".syntax", ".yaml-tmlanguage", ".yml.mysql"),
    "zig": (".zig",),
}  # fmt: skip

# Exact file names (case-sensitive as on disk, compared lower-cased).
FILENAMES: dict[str, str] = {
    "makefile": "makefile", "gnumakefile": "makefile", "kbuild": "makefile",
    "dockerfile": "dockerfile", "containerfile": "dockerfile",
    "cmakelists.txt": "cmake",
    "rakefile": "ruby", "gemfile": "ruby", "guardfile": "ruby", "podfile": "ruby",
    "vagrantfile": "ruby", "berksfile": "ruby", "capfile": "ruby", "thorfile": "ruby",
    "jenkinsfile": "groovy",
    "build.gradle": "groovy", "settings.gradle": "groovy",
    ".bashrc": "shell", ".bash_profile": "shell", ".zshrc": "shell", ".profile": "shell",
    "pkgbuild": "shell", "configure": "shell",
    ".emacs": "emacs-lisp",
    "sconstruct": "python", "sconscript": "python", "snakefile": "python", "buck": "python",
    "wscript": "python",
    "emakefile": "erlang", "rebar.config": "erlang",
    "cpanfile": "perl", "makefile.pl": "perl",
}  # fmt: skip

# Interpreters named by a shebang line.
SHEBANGS: dict[str, str] = {
    "python": "python", "python2": "python", "python3": "python", "pypy": "python", "pypy3": "python",
    "sh": "shell", "bash": "shell", "zsh": "shell", "ksh": "shell", "dash": "shell", "ash": "shell",
    "csh": "tcsh", "tcsh": "tcsh",
    "node": "javascript", "nodejs": "javascript", "deno": "typescript", "ts-node": "typescript",
    "perl": "perl", "perl5": "perl", "ruby": "ruby", "php": "php", "lua": "lua", "luajit": "lua",
    "tclsh": "tcl", "wish": "tcl", "awk": "awk", "gawk": "awk", "mawk": "awk",
    "escript": "erlang", "Rscript": "r", "julia": "julia", "racket": "racket", "guile": "scheme",
    "sbcl": "common-lisp", "clisp": "common-lisp", "elixir": "elixir", "groovy": "groovy",
    "scala": "scala", "runhaskell": "haskell", "stack": "haskell", "pwsh": "powershell",
    "osascript": "applescript", "make": "makefile", "ocaml": "ocaml", "kotlin": "kotlin",
}  # fmt: skip

_EXTENSION_TO_LANGUAGE: dict[str, str] = {}
for _language, _extensions in EXTENSIONS.items():
    for _ext in _extensions:
        # First writer wins; the table above has no duplicates except deliberate ones.
        _EXTENSION_TO_LANGUAGE.setdefault(_ext, _language)
_MAX_SUFFIX_PARTS = max(ext.count(".") for ext in _EXTENSION_TO_LANGUAGE)
_SHEBANG = re.compile(rb"^#!\s*(\S+)(?:\s+(\S+))?")

assert set(EXTENSIONS) == set(LANGUAGES), "every release language needs an extension entry"


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
