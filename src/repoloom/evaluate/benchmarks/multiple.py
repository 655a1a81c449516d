"""MultiPL-E HumanEval in other languages, driven by a table: a new language is a new row.

Each task (MultiPL-E JSONL: ``name``, ``prompt``, ``tests``, ``stop_tokens``) is checked by
writing ``prompt + completion + "\\n" + tests`` to one file and running the row's steps in the
sandbox (compile, then run). A step that exits non-zero fails the sample; so does output that
contains one of the row's failure markers (mono's Debug.Assert exits 0).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from repoloom.benchdata.multiple import multiple_records
from repoloom.evaluate.benchmarks import register
from repoloom.evaluate.benchmarks.base import Benchmark, Task, Verdict
from repoloom.evaluate.sandbox import Job, JobResult, Limits

JAVATUPLES = "/usr/share/java/javatuples.jar"


@dataclass(frozen=True)
class Language:
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


LANGUAGES: dict[str, Language] = {
    lang.key: lang
    for lang in (
        Language(
            "cpp",
            "C++",
            "main.cpp",
            (("g++", "-std=c++17", "-O0", "-o", "main", "main.cpp"), ("./main",)),
            ("g++", "--version"),
            "g++",
            extra_time=15.0,
        ),
        Language(
            "java",
            "Java",
            "Problem.java",
            (
                ("javac", "-J-Xmx512m", "-cp", JAVATUPLES, "Problem.java"),
                ("java", "-ea", "-Xmx1g", "-XX:+UseSerialGC", "-cp", f"{JAVATUPLES}:.", "Problem"),
            ),
            ("javac", "-version"),
            "default-jdk-headless libjavatuples-java",
            extra_time=15.0,
            address_space=None,
            processes=256,
        ),
        Language(
            "php",
            "PHP",
            "main.php",
            (("php", "main.php"),),
            ("php", "--version"),
            "php-cli",
            fail_markers=("PHP Fatal error", "PHP Parse error"),
        ),
        Language(
            "ts",
            "TypeScript",
            "main.ts",
            (
                ("tsc", "--target", "es2020", "--lib", "es2020,dom", "--skipLibCheck", "main.ts"),
                ("node", "main.js"),
            ),
            ("tsc", "--version"),
            "node-typescript nodejs",
            extra_time=15.0,
            address_space=None,
        ),
        Language(
            "cs",
            "C#",
            "main.cs",
            (
                ("mcs", "-d:DEBUG", "-r:System.Numerics.dll", "main.cs", "-out:main.exe"),
                ("env", "MONO_TRACE_LISTENER=Console.Error", "mono", "main.exe"),
            ),
            ("mcs", "--version"),
            "mono-mcs mono-runtime",
            fail_markers=("System.Diagnostics.DefaultTraceListener.Fail", "Unhandled Exception"),
            extra_time=15.0,
            address_space=None,
        ),
        Language("sh", "Bash", "main.sh", (("bash", "main.sh"),), ("bash", "--version"), "bash"),
        Language(
            "js",
            "JavaScript",
            "main.js",
            (("node", "main.js"),),
            ("node", "--version"),
            "nodejs",
            address_space=None,
        ),
        Language(
            "go",
            "Go",
            "main_test.go",
            (("go", "test", "main_test.go"),),  # GOCACHE: set per job by the sandbox
            ("go", "version"),
            "golang-go",
            extra_time=20.0,
            address_space=None,
            processes=256,
        ),
        Language(
            "rs",
            "Rust",
            "main.rs",
            (("rustc", "--edition", "2021", "-o", "main", "main.rs"), ("./main",)),
            ("rustc", "--version"),
            "rustc",
            extra_time=20.0,
        ),
    )  # fmt: skip
}


def toolchain_version(lang: Language) -> str | None:
    """The first line the toolchain prints for its version, or None when not installed."""
    exe = _which(lang.version[0])
    if not os.path.isabs(exe):
        return None
    try:
        r = subprocess.run(
            [exe, *lang.version[1:]], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = (r.stdout or r.stderr).strip().splitlines()
    return text[0] if text else lang.version[0]


@functools.lru_cache(maxsize=64)
def _which(name: str) -> str:
    """Absolute path of a program; a rustup proxy (it needs the hidden home) is replaced by the
    toolchain's own binary."""
    exe = shutil.which(name)
    if exe is None:
        return name
    if os.path.basename(os.path.realpath(exe)) == "rustup":
        try:
            r = subprocess.run(
                [exe, "--print", "sysroot"], capture_output=True, text=True, timeout=60
            )
            real = os.path.join(r.stdout.strip(), "bin", name)
            if r.returncode == 0 and os.path.isfile(real):
                return real
        except (OSError, subprocess.SubprocessError):
            pass
    return exe


def _resolve(argv: tuple[str, ...]) -> list[str]:
    """Absolute path for the program of a step (so toolchains outside PATH defaults work)."""
    first = argv[0]
    if first.startswith("./") or os.path.isabs(first):
        return list(argv)
    if first == "env":  # resolve the program after the VAR=value words
        rest = list(argv[1:])
        i = next((k for k, w in enumerate(rest) if "=" not in w), None)
        if i is not None:
            rest[i] = _which(rest[i])
        return [_which("env"), *rest]
    return [_which(first), *argv[1:]]


def toolchain_dirs(lang: Language) -> list[str]:
    """Install directories of the row's programs (exposed read-only inside the sandbox)."""
    out = []
    for step in lang.steps:
        argv = _resolve(step)
        exe = (
            argv[0] if argv[0] != _which("env") else next((w for w in argv[1:] if "=" not in w), "")
        )
        if os.path.isabs(exe):
            real = os.path.realpath(exe)
            out.append(os.path.dirname(os.path.dirname(real)))
    return sorted(set(out))


def _key_line(output: str) -> str:
    """The most telling line of a failed step: the first that mentions an error, else the last."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in lines:
        if "error" in ln.lower() or "assert" in ln.lower():
            return ln[:300]
    return lines[-1][:300]


class MultiPLE(Benchmark):
    language = ""

    def __init__(self, lang: Language) -> None:
        self.lang = lang
        self.name = f"humaneval-{lang.key}"
        self.description = f"MultiPL-E HumanEval in {lang.name} ({' '.join(lang.steps[0][:1])})"
        self.language = lang.key

    def load(self, data_dir: Path | None) -> list[Task]:
        rows = multiple_records(self.lang.key, data_dir, f"MultiPL-E {self.lang.name}")
        return [
            Task(
                str(rec.get("name") or rec.get("task_id")),
                rec["prompt"],
                dict(rec),
                list(rec.get("stop_tokens") or []),
            )
            for rec in rows
        ]

    def job(self, task: Task, completion: str, timeout: float) -> Job:
        program = task.data["prompt"] + completion + "\n" + task.data["tests"]
        return Job(
            kind="argv",
            files={self.lang.filename: program},
            steps=[_resolve(s) for s in self.lang.steps],
            timeout=timeout + self.lang.extra_time,
            limits=Limits(address_space=self.lang.address_space, processes=self.lang.processes),
        )

    def grade(self, task: Task, completion: str, result: JobResult | None) -> Verdict:
        if result is None:
            return Verdict(False, "failed: nothing was run")
        if result.passed:
            for marker in self.lang.fail_markers:
                if marker in result.output:
                    return Verdict(False, f"failed: output contains {marker!r}")
        text = result.result
        if not result.passed and text.startswith("failed: step") and result.output.strip():
            text += ": " + _key_line(result.output)
        return Verdict(result.passed, text)

    def toolchain(self) -> str:
        v = toolchain_version(self.lang)
        return v if v else f"{self.lang.name} toolchain not installed (Debian: {self.lang.debian})"

    def sandbox_dirs(self) -> list[str]:
        return toolchain_dirs(self.lang)


for _key, _lang in LANGUAGES.items():
    register(f"humaneval-{_key}", lambda _lang=_lang: MultiPLE(_lang))
