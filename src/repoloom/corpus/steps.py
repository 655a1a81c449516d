"""File-level pipeline steps: decode, identify the language, and the StarCoder rule filters.

In the manner of datatrove, a step is a small pure function of its input batch: it takes a list
of documents and returns the ones it keeps, recording each one it drops (with the rule that
dropped it) in a `StepLog`. The executor that feeds batches to steps lives elsewhere
(`repoloom.corpus.executors`), so the same steps run in the local process pool and on Ray.

No single file can stop a build: an exception a step raises for one file removes that file with
reason ``error:<step>`` (the exception and where it was raised in ``detail``) and the step goes
on with the others; `run_isolated` does the same for steps that take a whole repository's list.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from repoloom.codebase.files import decode_text
from repoloom.codebase.languages import identify_language
from repoloom.codebase.sources import RawFile, printable_name
from repoloom.corpus.config import CorpusConfig, FilterConfig

# Tests set it to "<step>:<path substring>" to make that step raise for matching files, on every
# executor (Ray workers inherit the environment; a monkeypatch would not reach them).
FAIL_STEP_ENV = "REPOLOOM_TEST_FAIL_STEP"

XML_HEADER = "<?xml version="


@dataclass(slots=True)
class FileDoc:
    """One decoded file travelling through the pipeline."""

    repo: str
    path: str
    text: str
    n_bytes: int
    language: str | None = None


@dataclass(slots=True)
class Removal:
    """A file (or sample) that left the pipeline, and why; one row of `removed/`."""

    repo: str
    path: str
    language: str | None
    n_bytes: int
    step: str
    reason: str
    detail: str = ""


@dataclass
class StepLog:
    """Per-step counters (documents in/out, drops per reason), timings and the dropped items."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    removed: list[Removal] = field(default_factory=list)

    def count(self, step: str, key: str, n: int = 1) -> None:
        bucket = self.counts.setdefault(step, {})
        bucket[key] = bucket.get(key, 0) + n

    def drop(self, step: str, reason: str, doc: FileDoc | RawFile, repo: str = "", **extra) -> None:
        language = getattr(doc, "language", None)
        n_bytes = getattr(doc, "n_bytes", None)
        if n_bytes is None:
            n_bytes = getattr(doc, "size", 0)
        self.count(step, f"dropped:{reason}")
        self.removed.append(
            Removal(
                repo=getattr(doc, "repo", repo) or repo,
                # Written to Parquet: a name or a message with stray surrogates must not fail it.
                path=printable_name(doc.path),
                language=language,
                n_bytes=int(n_bytes),
                step=step,
                reason=reason,
                detail=printable_name(str(extra.get("detail", getattr(doc, "detail", "")) or "")),
            )
        )

    def time(self, step: str, seconds: float) -> None:
        self.timings[step] = self.timings.get(step, 0.0) + seconds

    def merge(self, other: StepLog) -> None:
        for step, bucket in other.counts.items():
            for key, n in bucket.items():
                self.count(step, key, n)
        for step, seconds in other.timings.items():
            self.time(step, seconds)
        self.removed.extend(other.removed)


# ---------------------------------------------------------------------------------------------
# Error isolation


def error_detail(exc: BaseException) -> str:
    """The exception and the innermost frame it came from, in one line (the `detail` column)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" at {os.path.basename(last.filename)}:{last.lineno} in {last.name}"
    return f"{type(exc).__name__}: {exc}"[:400] + where


def fault_for(step: str) -> str | None:
    """The test hook of FAIL_STEP_ENV: the path fragment to raise for in `step` (read once per
    batch, so an ordinary build pays one environment lookup per step call)."""
    spec = os.environ.get(FAIL_STEP_ENV)
    if not spec:
        return None
    wanted, _, fragment = spec.partition(":")
    return fragment if wanted == step and fragment else None


def injected_fault(fragment: str | None, step: str, path: str) -> None:
    if fragment is not None and fragment in path:
        raise RuntimeError(f"injected fault in step {step} for {path}")


def run_isolated(
    step: str,
    name: str,
    run: Callable[[list[FileDoc], StepLog], list[FileDoc]],
    docs: list[FileDoc],
    log: StepLog,
) -> list[FileDoc]:
    """`run(docs, log)` for a step that takes a repository's whole file list (in-repository
    dedup, decontamination, screening), so that a file it raises for cannot stop the build.

    The step runs once on the whole list (its counters are kept only if it succeeds). If it
    raises, it is run on each file alone to find the files it raises for; those are removed
    with reason ``error:<name>`` under the funnel step `step` (added to that step's ``in``, so
    the funnel adds up), and the step runs again on the others. If no file fails alone, every
    file does, or the others fail again, the error is not one file's: it propagates (the
    repository fails, counted)."""

    fault = fault_for(name)

    def attempt(batch: list[FileDoc], into: StepLog) -> list[FileDoc]:
        for doc in batch:
            injected_fault(fault, name, doc.path)
        return run(batch, into)

    trial = StepLog()
    try:
        kept = attempt(docs, trial)
    except Exception:
        failed: list[tuple[FileDoc, Exception]] = []
        for doc in docs:
            try:
                attempt([doc], StepLog())
            except Exception as exc:  # this file's own error: it alone leaves
                failed.append((doc, exc))
        if not failed or (len(failed) == len(docs) > 1):
            raise  # not one file's error (it raises whatever it is given): the repository's
        bad = {id(doc) for doc, _ in failed}
        trial = StepLog()
        kept = attempt([d for d in docs if id(d) not in bad], trial)
        for doc, exc in failed:
            trial.drop(step, f"error:{name}", doc, detail=error_detail(exc))
        if "in" in trial.counts.get(step, {}):
            trial.count(step, "in", len(failed))
    log.merge(trial)
    return kept


# ---------------------------------------------------------------------------------------------
# Reading: raw bytes -> text documents


def decode_files(
    repo: str, raw_files: Iterable[RawFile], config: CorpusConfig, log: StepLog
) -> list[FileDoc]:
    """Keep readable UTF-8 text; count skipped, binary and undecodable files."""
    started = time.perf_counter()
    docs = []
    probe = config.read.binary_probe_bytes
    fault = fault_for("read")
    for raw in raw_files:
        log.count("read", "in")
        try:
            injected_fault(fault, "read", raw.path)
            doc = _decode(repo, raw, probe, log)
        except Exception as exc:  # one file's error costs that file only
            log.drop("read", "error:read", raw, repo=repo, detail=error_detail(exc))
            continue
        if doc is not None:
            docs.append(doc)
    log.count("read", "out", len(docs))
    log.time("read", time.perf_counter() - started)
    return docs


Verdict = tuple[str, str] | None
"""A filtering step's word on one document: ``(reason, detail)`` to drop it, None to keep it."""


def filter_step(
    step: str,
    docs: list[FileDoc],
    log: StepLog,
    verdict_of: Callable[[FileDoc], Verdict],
    started: float | None = None,
) -> list[FileDoc]:
    """One filtering step: keep the documents whose verdict is None, record the others as drops;
    count the step's documents in and out and its time (from ``started`` if it began earlier)."""
    started = time.perf_counter() if started is None else started
    kept = []
    for doc in docs:
        verdict = verdict_of(doc)
        if verdict is None:
            kept.append(doc)
        else:
            reason, detail = verdict
            log.drop(step, reason, doc, detail=detail)
    log.count(step, "in", len(docs))
    log.count(step, "out", len(kept))
    log.time(step, time.perf_counter() - started)
    return kept


def _decode(repo: str, raw: RawFile, probe: int, log: StepLog) -> FileDoc | None:
    text, reason, detail = decode_text(raw, probe)
    if text is None:
        log.drop("read", reason, raw, repo=repo, detail=detail)
        return None
    return FileDoc(repo=repo, path=raw.path, text=text, n_bytes=len(raw.data or b""))


def identify_languages(docs: list[FileDoc], config: CorpusConfig, log: StepLog) -> list[FileDoc]:
    """Set each document's language; unknown files are counted and dropped, not guessed."""
    kept = []
    fault = fault_for("language")
    for doc in docs:
        try:
            injected_fault(fault, "language", doc.path)
            doc.language = identify_language(doc.path, doc.text[:256].encode("utf-8", "replace"))
        except Exception as exc:  # one file's error costs that file only
            doc.language = None
            log.drop("language", "error:language", doc, detail=error_detail(exc))
            continue
        if doc.language is None:
            log.drop("language", "unknown-language", doc)
        else:
            log.count("language", f"lang:{doc.language}")
            kept.append(doc)
    return kept


# ---------------------------------------------------------------------------------------------
# Rule filters: each returns None to keep a document, or the reason to drop it.

_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))


def alpha_fraction(text: str) -> float:
    if not text:
        return 0.0
    if text.isascii():
        # C-speed count for the common case: delete the letters, measure what is gone.
        raw = text.encode("ascii")
        letters = len(raw) - len(raw.translate(None, _ASCII_LETTERS))
    else:
        letters = sum(map(str.isalpha, text))
    return letters / len(text)


def line_lengths(text: str) -> list[int]:
    return [len(line) for line in text.splitlines()] or [0]


def rule_empty(doc: FileDoc, cfg: FilterConfig) -> str | None:
    return "empty" if not doc.text.strip() else None


def rule_avg_line_length(doc: FileDoc, cfg: FilterConfig) -> str | None:
    lengths = line_lengths(doc.text)
    return "avg-line-length" if sum(lengths) / len(lengths) > cfg.max_avg_line_length else None


def rule_max_line_length(doc: FileDoc, cfg: FilterConfig) -> str | None:
    return "max-line-length" if max(line_lengths(doc.text)) > cfg.max_line_length else None


def rule_alpha_fraction(doc: FileDoc, cfg: FilterConfig) -> str | None:
    return "alpha-fraction" if alpha_fraction(doc.text) < cfg.min_alpha_fraction else None


def rule_xml_header(doc: FileDoc, cfg: FilterConfig) -> str | None:
    if doc.language == "xslt":
        return None
    return "xml-header" if XML_HEADER in doc.text[: cfg.xml_header_window] else None


class _VisibleText(HTMLParser):
    """Collects the text a browser would show: outside tags, scripts, styles and comments."""

    HIDDEN = frozenset({"script", "style", "head", "title", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden_depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden_depth += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden_depth:
            self.hidden_depth -= 1

    def handle_data(self, data):
        if not self.hidden_depth:
            self.parts.append(data)


def visible_text_length(html: str) -> int:
    parser = _VisibleText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient; anything else counts as no visible text
        return 0
    return len(" ".join(" ".join(parser.parts).split()))


def rule_html_visible_text(doc: FileDoc, cfg: FilterConfig) -> str | None:
    if doc.language != "html":
        return None
    visible = visible_text_length(doc.text)
    if visible < cfg.html_min_visible_chars or visible < cfg.html_min_visible_fraction * len(
        doc.text
    ):
        return "html-visible-text"
    return None


def rule_data_file_size(doc: FileDoc, cfg: FilterConfig) -> str | None:
    if doc.language not in cfg.data_languages:
        return None
    if not cfg.data_min_chars <= len(doc.text) <= cfg.data_max_chars:
        return "data-file-size"
    return None


Rule = Callable[[FileDoc, FilterConfig], "str | None"]

# The order of the filter funnel in the report.
RULES: tuple[tuple[str, Rule], ...] = (
    ("empty", rule_empty),
    ("avg_line_length", rule_avg_line_length),
    ("max_line_length", rule_max_line_length),
    ("alpha_fraction", rule_alpha_fraction),
    ("xml_header", rule_xml_header),
    ("html_visible_text", rule_html_visible_text),
    ("data_file_size", rule_data_file_size),
)


def apply_rule(
    name: str, rule: Rule, docs: list[FileDoc], cfg: FilterConfig, log: StepLog
) -> list[FileDoc]:
    fault = fault_for(name)

    def verdict(doc: FileDoc) -> Verdict:
        try:
            injected_fault(fault, name, doc.path)
            reason = rule(doc, cfg)
        except Exception as exc:  # one file's error costs that file only
            return f"error:{name}", error_detail(exc)
        return None if reason is None else (reason, "")

    return filter_step(name, docs, log, verdict)


def apply_rule_filters(docs: list[FileDoc], config: CorpusConfig, log: StepLog) -> list[FileDoc]:
    for name, rule in RULES:
        docs = apply_rule(name, rule, docs, config.filters, log)
    return docs
